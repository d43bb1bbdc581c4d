/**
 * Multi-core serving: several workers, each with its own event loop on its own thread, listen
 * on the same port with `reusePort` (`SO_REUSEPORT`, Linux), and the kernel spreads incoming
 * connections across them.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read examples/multicore/main.ts [port] [workers]
 *
 * Each connection is greeted with the name of the worker serving it, then echoed.
 */

/** A running group of workers sharing one port. */
export interface EchoWorkers {
  /** The port they share. */
  port: number;
  /** Stops every worker's server gracefully and ends the workers. */
  stop(): Promise<void>;
}

/**
 * Starts `count` echo workers on `hostname:port` (port 0: a free port picked here first).
 */
export async function startEchoWorkers(
  count: number,
  hostname = "127.0.0.1",
  port = 0,
): Promise<EchoWorkers> {
  if (port === 0) {
    // Reserve a free port number, then let the workers bind it with SO_REUSEPORT.
    const probe = Deno.listen({ hostname, port: 0, reusePort: true });
    port = probe.addr.port;
    probe.close();
  }
  const workers = Array.from(
    { length: count },
    (_, i) =>
      new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: `worker-${i}` }),
  );
  const reply = (worker: Worker, expected: string): Promise<void> =>
    new Promise((resolve, reject) => {
      worker.onmessage = (e) => e.data === expected ? resolve() : reject(new Error(String(e.data)));
      worker.onerror = (e) => {
        e.preventDefault(); // rejected here, not rethrown to end the process
        reject(e.error ?? new Error(e.message));
      };
    });
  try {
    await Promise.all(workers.map((worker) => {
      const listening = reply(worker, "listening");
      worker.postMessage({ hostname, port });
      return listening;
    }));
  } catch (error) {
    // One worker could not listen: none is left running.
    for (const worker of workers) worker.terminate();
    throw error;
  }
  return {
    port,
    async stop() {
      await Promise.all(workers.map((worker) => {
        const stopped = reply(worker, "stopped");
        worker.postMessage("stop");
        return stopped.finally(() => worker.terminate());
      }));
    },
  };
}

if (import.meta.main) {
  const port = Number(Deno.args[0] ?? 8000);
  const count = Number(Deno.args[1] ?? navigator.hardwareConcurrency);
  const group = await startEchoWorkers(count, "127.0.0.1", port);
  console.log(`${count} workers serving echo on 127.0.0.1:${group.port}; Ctrl-C stops them`);
  const stop = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGINT", stop.resolve);
  await stop.promise;
  Deno.removeSignalListener("SIGINT", stop.resolve);
  await group.stop();
}

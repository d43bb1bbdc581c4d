/**
 * Silent TLS clients for tests/hostile/tls_silent_test.ts and bench/soak/tls_silent.ts: a
 * Python process opens TCP connections to a TLS listener and sends nothing, and the server's
 * sockets on that port are counted from /proc (an OS-level fact, so polling it is fine).
 *
 * @module
 */

/** Connections held open by a separate process, which also counts the server's sockets. */
export interface SilentClients {
  /** How many connections the process opened. */
  readonly opened: number;
  /**
   * The connected sockets the server process holds on the port (the listener excluded): the
   * socket inodes of /proc/net/tcp{,6} on that port that are among /proc/<server>/fd. Read by
   * the Python process, since Deno grants /proc only with --allow-all.
   */
  serverSockets(): Promise<number>;
  /**
   * Asks the process how many of its connections the server has closed (each reads EOF or a
   * reset), then ends it.
   */
  finish(): Promise<{ closedByServer: number }>;
}

const SCRIPT = `
import os, socket, sys
port, count, server = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
print("open", len(socks), flush=True)

def server_sockets():
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in open(table).read().splitlines()[1:]:
            f = row.split()
            # State 0A is LISTEN; inode 0 is a socket no process holds (TIME_WAIT, orphans).
            if int(f[1].split(":")[1], 16) == port and f[3] != "0A" and f[9] != "0":
                inodes.add(f[9])
    held = 0
    for fd in os.listdir(f"/proc/{server}/fd"):
        try:
            link = os.readlink(f"/proc/{server}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            held += 1
    return held

while sys.stdin.readline().strip() == "count":
    print("count", server_sockets(), flush=True)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except ConnectionResetError:
        closed += 1
print("closed", closed, flush=True)
`;

/**
 * Opens `count` TCP connections to 127.0.0.1:`port` from a Python process that sends nothing
 * on them; the server is this process.
 */
export async function openSilentClients(port: number, count: number): Promise<SilentClients> {
  const child = new Deno.Command("python3", {
    args: ["-c", SCRIPT, String(port), String(count), String(Deno.pid)],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stdin = child.stdin.getWriter();
  const encoder = new TextEncoder();
  let pending = "";
  const nextNumber = async (): Promise<number> => {
    while (!pending.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`The silent clients exited early (after "${pending}")`);
      pending += value;
    }
    const end = pending.indexOf("\n");
    const line = pending.slice(0, end);
    pending = pending.slice(end + 1);
    return Number(line.split(" ")[1]);
  };
  const opened = await nextNumber();
  return {
    opened,
    async serverSockets() {
      await stdin.write(encoder.encode("count\n"));
      return await nextNumber();
    },
    async finish() {
      await stdin.write(encoder.encode("check\n"));
      const closedByServer = await nextNumber();
      await stdin.close();
      await lines.cancel();
      await child.status;
      return { closedByServer };
    },
  };
}

/**
 * Polls `probe` every 10 ms until `done(value)` holds; returns the milliseconds waited, or
 * throws naming the last value once `deadline` ms have passed.
 */
export async function pollUntil(
  probe: () => Promise<number>,
  done: (value: number) => boolean,
  deadline: number,
  what: string,
): Promise<number> {
  const start = performance.now();
  for (let value = await probe(); !done(value); value = await probe()) {
    if (performance.now() - start > deadline) {
      throw new Error(`Still not there after ${deadline} ms: ${what} is ${value}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - start;
}

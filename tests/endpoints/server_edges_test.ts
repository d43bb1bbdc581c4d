import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { createConnection, Server } from "@plexus/net/endpoints";
import type { Transport } from "@plexus/net/transport";
import { Recorder } from "../_recorder.ts";
import { tls } from "../_net.ts";
import { within } from "../_shared.ts";

Deno.test("shutdown({ timeout: Infinity }) lets a protocol finish, never aborting it", async () => {
  const made = Promise.withResolvers<void>();
  const lost = Promise.withResolvers<Error | undefined>();
  let lateAborted: boolean | undefined;
  const server = new Server(() => {
    let transport: Transport;
    return {
      connectionMade: (t: Transport) => {
        transport = t;
        made.resolve();
      },
      dataReceived() {},
      connectionLost: lost.resolve,
      // A request that takes 50 ms to finish; `late` must not abort under no time limit
      // (setTimeout(Infinity) fires after 1 ms).
      shutdown: (late: AbortSignal) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            lateAborted = late.aborted;
            transport.write(new TextEncoder().encode("done"));
            resolve();
          }, 50);
          late.addEventListener("abort", () => {
            lateAborted = true;
            clearTimeout(timer);
            resolve();
          }, { once: true });
        }),
    };
  });
  const [address] = await server.listen("127.0.0.1:0");
  const client = await createConnection(() => new Recorder(), address);
  await made.promise;
  await server.shutdown({ timeout: Infinity });
  assertEquals(lateAborted, false);
  assertEquals(await lost.promise, undefined, "closed gracefully, not aborted");
  await client.transport.closed;
  assertEquals(client.protocol.text, "done");
});

Deno.test("timeouts no timer can wait are refused at once, naming the option and the value", async () => {
  const past = 2 ** 31;
  const message = (what: string) =>
    `${what} must be a number of milliseconds from 0 to 2147483647 (or Infinity for none), got ${past}`;
  assertThrows(
    () => new Server(() => new Recorder(), { timeout: past }),
    RangeError,
    message("Cannot create server: timeout"),
  );
  assertThrows(
    () => new Server(() => new Recorder(), { idleTimeout: past }),
    RangeError,
    "Cannot create server: idleTimeout must be a number of milliseconds from 1 to 2147483647, got",
  );
  await using server = new Server(() => new Recorder());
  await assertRejects(
    () =>
      server.listen("127.0.0.1:0", {
        tls: { cert: tls.cert, key: tls.key, handshakeTimeout: past },
      }),
    RangeError,
    message("Cannot listen: tls.handshakeTimeout"),
  );
  assertThrows(
    () => server.shutdown({ timeout: past }),
    RangeError,
    message("Cannot shut down: timeout"),
  );
  await assertRejects(
    () => createConnection(() => new Recorder(), "127.0.0.1:9", { timeout: past }),
    RangeError,
    message("Cannot connect: timeout"),
  );
});

Deno.test("Server: a shutdown() with a bad timeout changes nothing, first or during a shutdown", async () => {
  const made = Promise.withResolvers<void>();
  const hooked = Promise.withResolvers<void>();
  const lost = Promise.withResolvers<Error | undefined>();
  const server = new Server(() => ({
    connectionMade: () => made.resolve(),
    dataReceived() {},
    connectionLost: lost.resolve,
    shutdown: () => { // never finishes: the running shutdown's own timeout ends it
      hooked.resolve();
      return new Promise<void>(() => {});
    },
  }));
  const [address] = await server.listen("127.0.0.1:0");
  assertThrows(() => server.shutdown({ timeout: -1 }), RangeError);
  assertEquals(server.shutdownSignal.aborted, false, "not shutting down");
  const client = await createConnection(() => new Recorder(), address); // still accepting
  await made.promise;
  const running = server.shutdown({ timeout: 50 });
  await hooked.promise;
  assertThrows(() => server.shutdown({ timeout: NaN }), RangeError);
  assertEquals(server.shutdown(), running, "the running shutdown is still the one");
  // The hook never finishes: only the first call's 50 ms ends it (the default is 30 s).
  await within(running, 5000, "the running shutdown");
  await lost.promise;
  await client.transport.closed.catch(() => {}); // aborted by the server: reset, maybe
});

Deno.test("Server: shutdown() called again from a shutdownSignal listener runs the protocol hooks once", async () => {
  let hooks = 0;
  const made = Promise.withResolvers<void>();
  class Tracking extends Server {
    override connectionMade(): void {
      made.resolve();
    }
  }
  const server = new Tracking(() => ({
    dataReceived() {},
    shutdown(): Promise<void> {
      hooks++;
      return Promise.resolve();
    },
  }));
  const [address] = await server.listen("127.0.0.1:0");
  const { transport } = await createConnection(() => new Recorder(), address);
  await made.promise;
  let again: Promise<void> | undefined;
  server.shutdownSignal.addEventListener("abort", () => {
    again = server.shutdown();
  });
  const first = server.shutdown({ timeout: 1000 });
  await first;
  await again;
  transport.close();
  await transport.closed;
  assertEquals(hooks, 1, "the protocol's shutdown hook ran once");
  assertEquals(again === first, true, "calling it again returns the same promise");
});

Deno.test("Server.listen([]) is refused: a server listening on nothing is a mistake", async () => {
  await using server = new Server(() => new Recorder());
  await assertRejects(() => server.listen([]), TypeError, "no address given");
});

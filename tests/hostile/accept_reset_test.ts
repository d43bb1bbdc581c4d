/**
 * Hostile peers, case 1: clients that reset before `accept()`. Deno's `accept()` throws
 * `NotConnected` for each; an accept loop must skip them at once, not back off or stop.
 *
 * The resets are made by a Python process run with `outputSync()`, which blocks this process's
 * event loop: every connection is queued and reset before the accept loop can take it, so each
 * one is a pre-accept reset, deterministically.
 */
import { assertEquals } from "@std/assert";
import {
  acceptConnections,
  AcceptError,
  createConnection,
  Server,
  TcpTendrilManager,
} from "@plexus/net/endpoints";
import { Application, type Tendril } from "@plexus/net/endpoints";
import { ProtocolAdapter } from "@plexus/net/protocol";
import { assert } from "../_assert.ts";
import { startSmtpServer } from "../../examples/smtp_server.ts";

const RESETS = 50;

/** Connects `count` times to `port` and resets each connection (SO_LINGER 0), blocking us. */
function resetConnections(port: number, count = RESETS): void {
  const script = `
import socket, struct, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
for _ in range(count):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.connect(("127.0.0.1", port))
    s.close()
`;
  const result = new Deno.Command("python3", {
    args: ["-c", script, String(port), String(count)],
    stderr: "piped",
  }).outputSync();
  assertEquals(result.code, 0, new TextDecoder().decode(result.stderr));
}

class Echo extends ProtocolAdapter {
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
}

/** Round-trips one chunk through an echo at `address`; resolves with the milliseconds taken. */
async function timeEcho(address: Deno.Addr): Promise<number> {
  const start = performance.now();
  const got = Promise.withResolvers<void>();
  const { transport } = await createConnection(
    () => ({ dataReceived: () => got.resolve() }),
    address,
  );
  transport.write(new TextEncoder().encode("ping"));
  await got.promise;
  const elapsed = performance.now() - start;
  transport.close();
  await transport.closed;
  return elapsed;
}

Deno.test("Server serves a new client at once after 50 pre-accept resets, reporting each", async () => {
  const errors: Error[] = [];
  await using server = new Server(() => new Echo(), { onError: (e) => errors.push(e) });
  const [address] = await server.listen("127.0.0.1:0");
  resetConnections((address as Deno.NetAddr).port);
  const elapsed = await timeEcho(address);
  // Before the fix each reset cost a one-second back-off: 50 s here.
  assert(elapsed < 100, `served after ${elapsed.toFixed(1)} ms`);
  assertEquals(errors.length, RESETS);
  for (const error of errors) {
    assert(error instanceof AcceptError, String(error));
    assertEquals(error.kind, "connection");
    assert(error.cause instanceof Deno.errors.NotConnected);
  }
});

Deno.test("the SMTP example keeps accepting after a pre-accept reset", async () => {
  const smtp = await startSmtpServer();
  try {
    resetConnections(smtp.port, 1);
    // The banner proves the next client was accepted (before the fix, the loop had ended).
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp.port });
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    assertEquals(
      new TextDecoder().decode(buffer.subarray(0, n ?? 0)),
      "220 plexus ESMTP ready\r\n",
    );
    conn.close();
  } finally {
    await smtp.close();
  }
});

Deno.test("a TCP Tendril manager keeps accepting after pre-accept resets", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  class Echoing extends Application {
    override frameReceived(frame: Uint8Array): void {
      this.sendFrame(frame);
    }
  }
  await manager.start((tendril: Tendril) => new Echoing(tendril));
  try {
    const address = manager.localAddress!;
    resetConnections(address.port, 10);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: address.port });
    await conn.write(new TextEncoder().encode("hello\n"));
    const buffer = new Uint8Array(16);
    const n = await conn.read(buffer);
    assertEquals(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "hello\r\n");
    conn.close();
  } finally {
    await manager.shutdown();
  }
});

Deno.test("Server survives setNoDelay() failing on an accepted connection (macOS after a reset)", async () => {
  await using server = new Server(() => new Echo());
  const [address] = await server.listen("127.0.0.1:0");
  // Accepted and client connections share TcpConn's prototype: make its next setNoDelay throw,
  // as macOS's setsockopt does (EINVAL) on a connection the peer reset right after accept().
  const probe = await Deno.connect({ hostname: "127.0.0.1", port: (address as Deno.NetAddr).port });
  const proto = Object.getPrototypeOf(probe) as { setNoDelay: (on?: boolean) => void };
  probe.close();
  const original = proto.setNoDelay;
  const thrown = Promise.withResolvers<void>();
  proto.setNoDelay = function () {
    proto.setNoDelay = original;
    thrown.resolve();
    throw new Deno.errors.InvalidData("Invalid argument (os error 22)");
  };
  try {
    using _victim = await Deno.connect({
      hostname: "127.0.0.1",
      port: (address as Deno.NetAddr).port,
    });
    await thrown.promise;
    // Before the fix the accept loop rejected (unhandled) and stopped serving.
    await timeEcho(address);
  } finally {
    proto.setNoDelay = original;
  }
});

/** A listener whose accept() throws each of `failures`, then waits until `signal` aborts. */
function failingListener(
  failures: Error[],
  signal: AbortSignal,
): Deno.Listener & { calls: number } {
  const listener = {
    calls: 0,
    accept(): Promise<Deno.Conn> {
      listener.calls++;
      const failure = failures.shift();
      if (failure) return Promise.reject(failure);
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(new Deno.errors.BadResource("closed")))
      );
    },
  };
  return listener as unknown as Deno.Listener & { calls: number };
}

Deno.test("acceptConnections skips per-connection failures without pausing", async () => {
  const controller = new AbortController();
  const failures = Array.from({ length: 5 }, () => new Deno.errors.NotConnected("reset"));
  const listener = failingListener(failures, controller.signal);
  const seen: AcceptError[] = [];
  const allSeen = Promise.withResolvers<void>();
  const loop = (async () => {
    // A minute-long back-off would time the test out if any of these paused the loop.
    const accepted = acceptConnections(listener, {
      signal: controller.signal,
      backOff: 60_000,
      onError: (error) => seen.push(error) === 5 && allSeen.resolve(),
    });
    for await (const _ of accepted) throw new Error("nothing to accept");
  })();
  await allSeen.promise;
  assertEquals(seen.map((e) => e.kind), Array(5).fill("connection"));
  controller.abort();
  await loop;
  assertEquals(listener.calls, 6);
});

Deno.test("acceptConnections pauses when out of file descriptors, and an abort ends the pause", async () => {
  const controller = new AbortController();
  const emfile = Object.assign(new Error("Too many open files (os error 24)"), { code: "EMFILE" });
  const listener = failingListener([emfile], controller.signal);
  const reported = Promise.withResolvers<AcceptError>();
  const loop = (async () => {
    const accepted = acceptConnections(listener, {
      signal: controller.signal,
      backOff: 60_000,
      onError: reported.resolve,
    });
    for await (const _ of accepted) throw new Error("nothing to accept");
  })();
  const error = await reported.promise;
  assertEquals(error.kind, "exhausted");
  assertEquals(
    error.message,
    "Accept failed, out of resources, pausing 60000 ms: Too many open files (os error 24)",
  );
  controller.abort(); // ends the minute-long pause at once
  await loop;
  assertEquals(listener.calls, 1); // paused: no second accept()
});

Deno.test("a listener closed under acceptConnections ends the loop", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const errors: AcceptError[] = [];
  const loop = (async () => {
    for await (const _ of acceptConnections(listener, { onError: (e) => errors.push(e) })) {
      // nothing connects
    }
  })();
  listener.close();
  await loop;
  assert(errors.every((e) => e.kind === "closed"));
});

Deno.test("AcceptError sorts accept() failures: per connection, exhausted, unknown, closed", () => {
  const kind = (error: unknown) => AcceptError.from(error).kind;
  const coded = (code: string) => Object.assign(new Error(code), { code });
  assertEquals(kind(new Deno.errors.NotConnected("reset")), "connection");
  assertEquals(kind(new Deno.errors.ConnectionAborted("aborted")), "connection");
  assertEquals(kind(coded("ECONNABORTED")), "connection");
  assertEquals(kind(coded("EPROTO")), "connection");
  assertEquals(kind(coded("ENFILE")), "exhausted");
  assertEquals(kind(coded("ENOMEM")), "exhausted");
  // An error nobody knows pauses the loop rather than let it spin.
  assertEquals(kind(coded("EINVAL")), "unknown");
  assertEquals(kind(new Error("strange")), "unknown");
  assertEquals(
    AcceptError.from(new Error("strange"), 250).message,
    "Accept failed, pausing 250 ms: strange",
  );
  assertEquals(kind(new Deno.errors.BadResource("closed")), "closed");
});

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  ConnectionClosedError,
  EXTENSION_RQ_TYPE,
  PacketConnection,
  type PacketHandlerResult,
  type PacketRequestContext,
  PacketTooLongError,
  RemoteError,
} from "@plexus/net/packet";
import {
  createMemoryChannelPair,
  createMemoryTransportPair,
  StreamTransport,
} from "@plexus/net/transport";
import { assert, assertInstanceOf } from "../_assert.ts";
import { bytes, connectedPair, gate, text } from "./_helpers.ts";

Deno.test("both sides issue requests at once and every answer reaches its caller", async () => {
  const handler = (name: string) => (rqType: number, _flags: number, payload: Uint8Array) =>
    rqType === 0 ? `${name}:${text(payload)}` : Promise.resolve(`${name} async:${text(payload)}`);
  const [a, b] = connectedPair({ requestHandler: handler("a") }, { requestHandler: handler("b") });
  const calls: Promise<string>[] = [];
  const expected: string[] = [];
  for (let i = 0; i < 200; i++) {
    const decode = (p: Uint8Array) => text(p);
    calls.push(a.call(i % 2, `${i}`, { decode }), b.call(i % 2, `${i}`, { decode }));
    expected.push(`b${i % 2 ? " async" : ""}:${i}`, `a${i % 2 ? " async" : ""}:${i}`);
  }
  assertEquals(await Promise.all(calls), expected);
  await a.close();
  assertEquals(await b.closed, undefined);
});

Deno.test("handler results map to responses as the original maps them", async () => {
  const results: Record<number, PacketHandlerResult> = {
    0: undefined,
    1: null,
    2: 7,
    3: bytes("raw"),
    4: "text é",
    5: [9, bytes("both")],
    6: [3, "flags and text"],
  };
  const [, client] = connectedPair({
    requestHandler: async (rqType) => {
      if (rqType >= 10) return results[rqType - 10]; // the same, from an async handler
      await Promise.resolve();
      return results[rqType];
    },
  });
  const expected = [
    [0, ""],
    [0, ""],
    [7, ""],
    [0, "raw"],
    [0, "text é"],
    [9, "both"],
    [3, "flags and text"],
  ];
  for (const offset of [0, 10]) {
    for (let i = 0; i < expected.length; i++) {
      const response = await client.submit(offset + i);
      assertEquals([response.ok, response.flags, text(response.payload)], [true, ...expected[i]]);
    }
  }
  await client.close();
});

Deno.test("a throwing handler answers 'exception during handler' and never leaks the message", async () => {
  const reported: unknown[] = [];
  const [, client] = connectedPair({
    requestHandler: (rqType) => {
      if (rqType === 0) throw new Error("secret database password");
      if (rqType === 1) return Promise.reject(new TypeError("async secret"));
      if (rqType === 2) return { not: "a result" } as unknown as PacketHandlerResult;
      if (rqType === 3) return [-1, "bad flags"];
      throw new RemoteError(5, "chosen failure");
    },
    onHandlerError: (error, context) => reported.push([String(error), context.tag]),
  });
  for (let rqType = 0; rqType < 4; rqType++) {
    const response = await client.submit(rqType);
    assertEquals([response.ok, response.flags], [false, 0]);
    assertEquals(text(response.payload), "exception during handler");
  }
  const error = await assertRejects(() => client.call(4), RemoteError);
  assertEquals([error.flags, error.text], [5, "chosen failure"]);
  assertEquals(
    error.message,
    'Request rq_type 4 (channel 0, tag 6) failed: the peer answered not ok (flags 5, payload "chosen failure")',
  );
  assertEquals(reported.length, 4, "a RemoteError is no handler error");
  assertEquals(reported[0], ["Error: secret database password", 2]);
  assert(String((reported[2] as unknown[])[0]).includes("returned Object"));
  await client.close();
});

Deno.test("without a handler every request gets 'no request handler'", async () => {
  const [, client] = connectedPair();
  const error = await assertRejects(() => client.call(0, "x"), RemoteError);
  assertEquals([error.flags, error.text], [0, "no request handler"]);
  await client.close();
});

Deno.test("submit checks its arguments", async () => {
  const [, client] = connectedPair({ requestHandler: () => {} });
  await assertRejects(
    () => client.submit(-1),
    RangeError,
    "rq_type must be a non-negative safe integer",
  );
  await assertRejects(() => client.submit(1.5), RangeError, "got 1.5");
  await assertRejects(
    () => client.submit(EXTENSION_RQ_TYPE),
    RangeError,
    "reserved for the Plexus extensions",
  );
  await assertRejects(() => client.submit(0, { flags: -2 }), RangeError, "flags must be");
  await assertRejects(() => client.submit(0, { channel: -1 }), RangeError, "channel must be");
  await assertRejects(
    () => client.submit(0, { channel: 4 }),
    RangeError,
    "channels other than 0 need the Plexus extensions",
  );
  await assertRejects(
    () => client.submit(0, { payload: 5 as unknown as string }),
    TypeError,
    "expected a Uint8Array or a string",
  );
  assertEquals(client.inFlight, 0, "nothing was left counted");
  assertEquals((await client.submit(0)).ok, true);
  await client.close();
});

Deno.test("handlers get the request's rq_type, flags, payload and context", async () => {
  const seen: unknown[] = [];
  const [server, client] = connectedPair({
    requestHandler: (rqType, flags, payload, context: PacketRequestContext) => {
      seen.push([
        rqType,
        flags,
        text(payload),
        context.channel,
        context.tag,
        context.signal.aborted,
      ]);
      assert(context.connection === server);
    },
  });
  await client.submit(41, { flags: 0x55, payload: "hi" });
  await client.submit(0);
  assertEquals(seen, [[41, 0x55, "hi", 0, 2, false], [0, 0, "", 0, 3, false]]);
  await client.close();
});

Deno.test("a handler may call back into the peer while serving", async () => {
  const [, client] = connectedPair(
    {
      requestHandler: async (_t, _f, payload, { connection }) =>
        `${text(payload)} ${text(await connection.call(0, "who?"))}`,
    },
    { requestHandler: (_t, _f, payload) => `me, asked "${text(payload)}"` },
  );
  assertEquals(text(await client.call(0, "hello")), 'hello me, asked "who?"');
  await client.close();
});

Deno.test("maxInFlight bounds our outstanding requests; submit waits for room", async () => {
  const release = gate();
  const threeStarted = gate();
  let started = 0;
  const [, client] = connectedPair(
    {
      requestHandler: async () => {
        if (++started === 3) threeStarted.resolve();
        await release.promise;
      },
    },
    { maxInFlight: 3 },
  );
  const calls = Array.from({ length: 10 }, () => client.call(0));
  await threeStarted.promise;
  assertEquals(client.inFlight, 3, "seven wait for room");
  release.resolve();
  await Promise.all(calls);
  assertEquals(started, 10);
  assertEquals(client.inFlight, 0);
  await client.close();
});

Deno.test("maxConcurrentHandlers bounds running handlers; responses go out as they finish", async () => {
  const gates = Array.from({ length: 6 }, () => gate());
  let running = 0;
  let most = 0;
  const [, client] = connectedPair({
    maxConcurrentHandlers: 2,
    maxQueuedRequests: 4,
    requestHandler: async (rqType) => {
      running++;
      most = Math.max(most, running);
      await gates[rqType].promise;
      running--;
      return `${rqType}`;
    },
  });
  const order: string[] = [];
  const first = gate();
  const calls = gates.map((_, i) =>
    client.call(i).then((p) => {
      order.push(text(p));
      first.resolve();
    })
  );
  gates[1].resolve(); // the second finishes first
  await first.promise;
  for (const g of gates) g.resolve();
  await Promise.all(calls);
  assertEquals(order[0], "1");
  assertEquals(most, 2);
  assertEquals(order.length, 6);
  await client.close();
});

Deno.test("requests after endRequests() or close() reject with ConnectionClosedError", async () => {
  const [server, client] = connectedPair({ requestHandler: () => "x" }, {
    requestHandler: () => "y",
  });
  client.endRequests();
  await assertRejects(() => client.call(0), ConnectionClosedError, "endRequests() was called");
  // The other direction still works: our ERQ only ends our requests.
  assertEquals(text(await server.call(0)), "y");
  const closing = client.close();
  await assertRejects(() => client.call(0), ConnectionClosedError, "closing");
  await closing;
  await assertRejects(() => client.call(0), ConnectionClosedError, "closed");
  await assertRejects(() => server.call(0), ConnectionClosedError);
});

Deno.test("close() waits for our running handlers, whose answers still go out", async () => {
  const release = gate();
  const started = gate();
  const [server, client] = connectedPair({
    requestHandler: async () => {
      started.resolve();
      await release.promise;
      return "late but answered";
    },
  });
  const call = client.call(0);
  await started.promise;
  const closing = server.close();
  release.resolve();
  assertEquals(text(await call), "late but answered");
  await closing;
  assertEquals(await client.closed, undefined);
});

Deno.test("await using closes in order", async () => {
  const [server, client] = connectedPair({ requestHandler: () => "ok" });
  {
    await using c = client;
    assertEquals(text(await c.call(0)), "ok");
  }
  assertEquals(await server.closed, undefined);
});

Deno.test("a handler error after the connection is gone is still reported, the response dropped", async () => {
  const started = gate();
  const reported = gate<unknown>();
  const [server, client] = connectedPair({
    requestHandler: async (_t, _f, _p, { signal }) => {
      started.resolve();
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      throw new Error("after abort");
    },
    onHandlerError: (error) => reported.resolve(error),
  });
  const call = client.call(0);
  await started.promise;
  server.abort();
  await assertRejects(() => call, ConnectionClosedError);
  await server.closed;
  await client.closed;
  const error = await reported.promise;
  assertInstanceOf(error, Error);
  assertEquals(error.message, "after abort");
});

Deno.test("requests made before a transport connects wait for it", async () => {
  const client = new PacketConnection();
  const early = client.call(0, "early");
  const server = new PacketConnection({ requestHandler: (_t, _f, payload) => payload });
  createMemoryTransportPair(server, client);
  assertEquals(text(await early), "early");
  await client.close();
});

Deno.test("close() before any transport ends it at once; a late transport is aborted", async () => {
  const lonely = new PacketConnection();
  const early = lonely.call(0);
  await lonely.close();
  await assertRejects(() => early, ConnectionClosedError, "closing");
  assertEquals(await lonely.closed, undefined);
  const other = new PacketConnection();
  createMemoryTransportPair(lonely, other);
  assertInstanceOf(await other.closed, ConnectionClosedError);
});

Deno.test("a timeout while waiting for room rejects without taking a slot", async () => {
  const release = gate();
  const [, client] = connectedPair({ requestHandler: () => release.promise }, { maxInFlight: 1 });
  const first = client.call(0);
  const error = await assertRejects(() => client.call(0, "", { timeout: 1 }), DOMException);
  assertEquals(error.name, "TimeoutError");
  const stop = new AbortController();
  const aborted = client.call(0, "", { signal: stop.signal });
  stop.abort(new Error("gave up waiting"));
  await assertRejects(() => aborted, Error, "gave up waiting");
  assertEquals(client.inFlight, 1);
  release.resolve();
  await first;
  await client.call(0);
  assertEquals(client.inFlight, 0);
  await client.close();
});

Deno.test("a response over maxPacketSize becomes 'exception during handler'", async () => {
  const reported = gate<unknown>();
  const [, client] = connectedPair({
    maxPacketSize: 100,
    requestHandler: () => new Uint8Array(200),
    onHandlerError: (error) => reported.resolve(error),
  });
  const response = await client.submit(0);
  assertEquals([response.ok, text(response.payload)], [false, "exception during handler"]);
  assertInstanceOf(await reported.promise, PacketTooLongError);
  await client.close();
});

Deno.test("durations are checked: a timer cannot wait longer than 2147483647 ms", () => {
  // Timers fire after about 1 ms for anything longer, negative or NaN.
  for (const name of ["closeTimeout", "keepAlive", "packetGrace", "offerTimeout"] as const) {
    for (const value of [2 ** 31, -1, NaN, Infinity]) {
      const error = assertThrows(() => new PacketConnection({ [name]: value }), RangeError);
      assertEquals(
        error.message,
        `Cannot create packet connection: ${name} must be a number of milliseconds from 0 to ` +
          `2147483647, got ${value}`,
      );
    }
    new PacketConnection({ [name]: 2 ** 31 - 1 }); // the longest allowed
  }
  for (
    const name of ["maxInFlight", "maxConcurrentHandlers", "maxQueuedRequests", "maxWriteBuffer"]
  ) {
    assertThrows(() => new PacketConnection({ [name]: 0 }), RangeError, `${name} must be`);
  }
});

Deno.test("a request timeout is checked: 0 to 2147483647 ms, or Infinity for none", async () => {
  const [, client] = connectedPair({ requestHandler: () => "answer" });
  for (const timeout of [2 ** 31, -5, NaN, 30 * 24 * 3600 * 1000]) {
    const error = await assertRejects(() => client.call(0, "", { timeout }), RangeError);
    assertEquals(
      error.message,
      "Cannot submit request: timeout must be a number of milliseconds from 0 to 2147483647 " +
        `(or Infinity for none), got ${timeout}`,
    );
  }
  assertEquals(client.inFlight, 0);
  assertEquals(text(await client.call(0, "", { timeout: Infinity })), "answer");
  assertEquals(text(await client.call(0, "", { timeout: 2 ** 31 - 1 })), "answer");
  await client.close();
});

Deno.test("text with a lone surrogate is encoded as the original does: a character reference", async () => {
  const [, client] = connectedPair({
    requestHandler: (rqType, _f, payload) =>
      rqType === 0 ? "a\ud83db" : rqType === 1 ? [0, "\udc00😀"] : payload,
  });
  assertEquals(text(await client.call(0)), "a&#55357;b");
  assertEquals(text(await client.call(1)), "&#56320;😀");
  assertEquals(text(await client.call(2, "x\ud800")), "x&#55296;", "payloads given as text too");
  await client.close();
});

Deno.test("a request submitted while the transport is closing fails at once and is not counted as sent", async () => {
  // The transport's owner closed it (a Server's closeClients()), and the close is still
  // flushing to a peer that does not read: the request was counted as sent, dropped unsent by
  // the closing transport, and its call waited for the end of the connection (then `lost`).
  const [a, b] = createMemoryChannelPair({ capacity: 1024 });
  const peer = new StreamTransport(b, {
    connectionMade: (t) => t.pauseReading(),
    dataReceived() {},
  });
  const client = new PacketConnection();
  const transport = new StreamTransport(a, client);
  const first = client.submit(1, { payload: new Uint8Array(16 * 1024) }).catch((e) => e);
  transport.close();
  await assertRejects(
    () => client.submit(2, { payload: "x" }),
    ConnectionClosedError,
    "Cannot submit request: the transport is closing",
  );
  assertEquals(client.stats().requestsSent, 1);
  transport.abort();
  peer.abort();
  await Promise.all([first, client.closed, peer.closed]);
  assertEquals(client.stats().lost, 1, "only the request that was written");
});

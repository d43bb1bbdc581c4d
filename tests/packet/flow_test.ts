/**
 * Flow control end to end: the handler queue, the write buffer's bounds, and why reading never
 * stops for either.
 */

import { assertEquals, assertRejects } from "@std/assert";
import {
  ConnectionClosedError,
  Packet,
  PacketConnection,
  type PacketConnectionOptions,
  RemoteError,
} from "@plexus/net/packet";
import {
  createMemoryTransportPair,
  type MemoryTransportPairOptions,
  type StreamTransport,
  WriteBufferOverflowError,
} from "@plexus/net/transport";
import { assert, assertInstanceOf } from "../_assert.ts";
import { concat } from "../_shared.ts";
import { bytes, connectedPair, encode, gate, RawPeer, text } from "./_helpers.ts";

/** A connection that reports how many bytes it has taken in (all of them handled by then). */
class Counting extends PacketConnection {
  received = 0;
  #waiters: { bytes: number; resolve: () => void }[] = [];

  override bufferUpdated(nbytes: number): void {
    super.bufferUpdated(nbytes);
    this.received += nbytes;
    this.#waiters = this.#waiters.filter((w) => {
      if (this.received < w.bytes) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once `n` bytes in all have been received and handled. */
  receivedBytes(n: number): Promise<void> {
    if (this.received >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ bytes: n, resolve }));
  }
}

/** A counting connection and a raw peer that does not read until told to. */
function withDeafPeer(
  options: PacketConnectionOptions,
  pair: MemoryTransportPairOptions = {},
): { connection: Counting; peer: RawPeer; transports: [StreamTransport, StreamTransport] } {
  const connection = new Counting(options);
  const peer = new RawPeer();
  const transports = createMemoryTransportPair(connection, peer, pair);
  transports[1].pauseReading();
  return { connection, peer, transports };
}

/** `n` pipelined requests with fresh tags, as one chunk of bytes. */
function flood(n: number, payload = new Uint8Array(0)): Uint8Array {
  return concat(Array.from({ length: n }, (_, i) => encode(Packet.request(i + 2, 0, { payload }))));
}

/** Settles every call; returns the texts of the answers and of the refusals. */
async function outcomes(
  calls: Promise<Uint8Array>[],
): Promise<{ ok: string[]; refused: string[] }> {
  const ok: string[] = [];
  const refused: string[] = [];
  for (const result of await Promise.allSettled(calls)) {
    if (result.status === "fulfilled") ok.push(text(result.value));
    else {
      assertInstanceOf(result.reason, RemoteError);
      refused.push(result.reason.text);
    }
  }
  return { ok, refused };
}

Deno.test("handlers that call the peer back finish, with more requests than slots and queue hold", async () => {
  // Reading must go on while every slot is busy: the callbacks' answers come that way.
  const [server, client] = connectedPair(
    {
      maxConcurrentHandlers: 2,
      maxQueuedRequests: 2,
      requestHandler: async (_t, _f, _p, { connection }) => `got ${text(await connection.call(0))}`,
    },
    { requestHandler: () => "name" },
  );
  const calls = Array.from({ length: 10 }, () => client.call(0));
  const { ok, refused } = await outcomes(calls);
  assertEquals(ok, Array(4).fill("got name"), "two ran at once, two waited in the queue");
  assertEquals(refused, Array(6).fill("too many requests"));
  assertEquals(server.inFlight, 0);
  await client.close();
  assertEquals(await server.closed, undefined);
});

Deno.test("default limits: as many requests as maxInFlight allows, all calling back, are answered", async () => {
  const [server, client] = connectedPair(
    { requestHandler: async (_t, _f, _p, { connection }) => await connection.call(0) },
    { requestHandler: () => "name" },
  );
  const { ok, refused } = await outcomes(Array.from({ length: 1024 }, () => client.call(0)));
  assertEquals([ok.length, refused.length], [1024, 0], "128 running and the rest queued");
  await client.close();
  assertEquals(await server.closed, undefined);
});

Deno.test("requests beyond the queue are refused at once, queued ones run in order", async () => {
  const release = gate();
  const ran: string[] = [];
  const { connection, peer, transports } = withDeafPeer({
    maxConcurrentHandlers: 1,
    maxQueuedRequests: 2,
    requestHandler: async (_t, _f, payload) => {
      ran.push(text(payload));
      await release.promise;
      return payload;
    },
  });
  transports[1].resumeReading();
  peer.send(...["a", "b", "c", "d"].map((p, i) => Packet.request(i + 2, 0, { payload: bytes(p) })));
  assertEquals(
    await peer.response(5),
    Packet.response(5, false, { payload: bytes("too many requests") }),
  );
  assertEquals(ran, ["a"]);
  release.resolve();
  assertEquals((await peer.response(4)).payload, bytes("c"));
  assertEquals(ran, ["a", "b", "c"]);
  connection.abort();
  await connection.closed;
});

Deno.test("a peer that sends requests without reading cannot grow our write buffer without bound", async () => {
  const requests = flood(4000, new Uint8Array(8));
  const { connection, peer, transports } = withDeafPeer({
    maxQueuedRequests: 128,
    requestHandler: () => new Uint8Array(64 * 1024),
  });
  peer.send(requests);
  await connection.receivedBytes(requests.byteLength);
  const buffered = transports[0].getWriteBufferSize();
  // Before the fix every request was served at once: 4000 responses of 64 KiB (258 MB).
  assert(buffered < 256 * 1024, `write buffer ${buffered} bytes`);
  // Once the peer reads, every request has exactly one answer: served, or refused while the
  // handlers waited for the write buffer to drain.
  transports[1].resumeReading();
  await peer.until(() => peer.packets.length === 4000);
  const served = peer.packets.filter((p) => p.ok);
  // One or two before the buffer filled (the memory channel takes 64 KiB), then the queue.
  assert(served.length === 129 || served.length === 130, `${served.length} served`);
  assert(served.every((p) => p.payload.byteLength === 64 * 1024));
  assert(peer.packets.every((p) => p.ok || text(p.payload) === "too many requests"));
  assertEquals(new Set(peer.packets.map((p) => p.tag)).size, 4000);
  connection.abort();
  await connection.closed;
});

Deno.test("a peer that keeps sending without reading is aborted past maxWriteBuffer", async () => {
  // No handler: every request is refused ("no request handler", 21 bytes for 4).
  const requests = flood(50_000);
  const { connection, peer, transports } = withDeafPeer({ maxWriteBuffer: 200_000 });
  // A request of ours, pending when the cut comes: it settles too.
  const ours = connection.call(0, new Uint8Array(1));
  peer.send(requests);
  const outcome = await Promise.race([
    connection.closed,
    connection.receivedBytes(requests.byteLength).then(() => "read every request"),
  ]);
  // The transport's cap cut it: its error, its close reason.
  assertInstanceOf(outcome, WriteBufferOverflowError);
  assertEquals(outcome.limit, 200_000);
  assert(
    /^Write buffer \d+ bytes exceeds maxWriteBuffer 200000; the peer is not reading$/
      .test(outcome.message),
    outcome.message,
  );
  await transports[0].closed;
  assertEquals(transports[0].stats().closeReason, "overflow");
  const error = await assertRejects(() => ours, ConnectionClosedError);
  assertEquals(error.cause, outcome);
  await peer.until(() => peer.lost);
});

Deno.test("maxWriteBuffer becomes the transport's cap; the default only tightens it", async () => {
  const cap = (options: PacketConnectionOptions, transport?: { maxWriteBuffer?: number }) => {
    const connection = new PacketConnection(options);
    const [a, b] = createMemoryTransportPair(connection, new RawPeer(), { transport });
    const max = a.getMaxWriteBuffer();
    a.abort();
    b.abort();
    return Promise.all([connection.closed, b.closed]).then(() => max);
  };
  const high = 64 * 1024;
  assertEquals(await cap({ maxPacketSize: 1000 }), high + 2 * 1000 + 1024 * 1024);
  assertEquals(await cap({}, { maxWriteBuffer: 100_000 }), 100_000, "the transport's is lower");
  assertEquals(await cap({ maxWriteBuffer: 50_000 }, { maxWriteBuffer: 100_000 }), 50_000);
  assertEquals(await cap({ maxWriteBuffer: 5_000_000 }, { maxWriteBuffer: 100_000 }), 100_000);
});

Deno.test("the default maxWriteBuffer lets a peer that reads get large responses back to back", async () => {
  // Each echo is a packet near maxPacketSize: the one being written stays held until all of it
  // is, so while the next one is queued the transport holds about two of them.
  const max = 4 * 1024 * 1024;
  const server = new PacketConnection({ maxPacketSize: max, requestHandler: (_t, _f, p) => p });
  const client = new PacketConnection({ maxPacketSize: max });
  const [a, b] = createMemoryTransportPair(client, server);
  const payload = new Uint8Array(max - 64);
  const replies = await Promise.all([1, 2, 3].map(() => client.call(0, payload)));
  assertEquals(replies.map((r) => r.byteLength), [1, 2, 3].map(() => max - 64));
  await client.close();
  assertEquals(await server.closed, undefined);
  assertEquals([a.stats().closeReason, b.stats().closeReason].includes("overflow"), false);
});

Deno.test("while the write buffer is full, no handler starts; queued ones start once it drains", async () => {
  const started: string[] = [];
  const release = gate();
  const queuedStarted = gate();
  const { connection, peer, transports } = withDeafPeer(
    {
      maxConcurrentHandlers: 2,
      requestHandler: (_t, _f, payload) => {
        const name = text(payload);
        started.push(name);
        if (name === "fill") return new Uint8Array(8192); // at once, over the high watermark
        if (name === "queued") queuedStarted.resolve();
        return release.promise.then(() => name);
      },
    },
    { capacity: 1, transport: { writeBufferLimits: { high: 4096 } } },
  );
  let sent = 0;
  const send = (tag: number, name: string): Promise<void> => {
    const chunk = encode(Packet.request(tag, 0, { payload: bytes(name) }));
    peer.send(chunk);
    sent += chunk.byteLength;
    return connection.receivedBytes(sent);
  };
  await send(2, "slow");
  await send(3, "fill");
  assert(transports[0].getWriteBufferSize() > 4096, "the write buffer is over its watermark");
  await send(4, "queued");
  assertEquals(started, ["slow", "fill"], "a slot is free, but no handler starts");
  release.resolve();
  transports[1].resumeReading(); // the buffer drains
  await queuedStarted.promise;
  assertEquals(text((await peer.response(2)).payload), "slow");
  assertEquals(text((await peer.response(4)).payload), "queued");
  assertEquals(started, ["slow", "fill", "queued"]);
  connection.abort();
  await connection.closed;
});

Deno.test("both sides sending large requests at once never wait for each other", async () => {
  // Each side's write buffer goes over its high watermark; a side that stopped reading then
  // would wait for the other forever.
  const [a, b] = connectedPair({ requestHandler: () => "a" }, { requestHandler: () => "b" });
  const payload = new Uint8Array(256 * 1024);
  const calls = Array.from({ length: 32 }, () => [a.call(0, payload), b.call(0, payload)]).flat();
  const answers = (await Promise.all(calls)).map(text);
  assertEquals(answers, Array.from({ length: 32 }, () => ["b", "a"]).flat());
  await a.close();
  assertEquals(await b.closed, undefined);
});

Deno.test("a submit waiting for the write buffer to drain can be cancelled", async () => {
  const { connection, peer, transports } = withDeafPeer({});
  const first = connection.submit(0, { payload: new Uint8Array(100_000) }); // over the watermark
  const stop = new AbortController();
  const waiting = connection.submit(1, { signal: stop.signal });
  const timed = connection.submit(2, { timeout: 0 });
  stop.abort(new Error("no longer needed"));
  await assertRejects(() => waiting, Error, "no longer needed");
  assertEquals((await assertRejects(() => timed, DOMException)).name, "TimeoutError");
  assertEquals(connection.inFlight, 1, "neither took a slot");
  const after = connection.submit(3);
  transports[1].resumeReading();
  await peer.untilPackets(2);
  assertEquals(peer.packets.map((p) => [p.tag, p.userRqType]), [[2, 0], [3, 3]]);
  peer.send(Packet.response(2, true), Packet.response(3, true));
  await Promise.all([first, after]);
  connection.abort();
  await connection.closed;
});

Deno.test("a cancelled request keeps its maxInFlight slot until the peer's late response", async () => {
  // A cs.packetstream peer cannot be told to stop: without the slot, a caller looping with a
  // short timeout would pile unbounded work on it.
  const peer = new RawPeer();
  const connection = new PacketConnection({ maxInFlight: 1 });
  createMemoryTransportPair(connection, peer);
  const error = await assertRejects(() => connection.submit(0, { timeout: 0 }), DOMException);
  assertEquals(error.name, "TimeoutError");
  assertEquals(connection.inFlight, 1);
  const next = connection.submit(1);
  await peer.untilPackets(1);
  assertEquals(peer.packets.length, 1, "the next request waits for the slot");
  peer.send(Packet.response(2, true)); // late: dropped, and frees the slot
  await peer.untilPackets(2);
  assertEquals(peer.packets[1].tag, 3);
  peer.send(Packet.response(3, true, { payload: bytes("mine") }));
  assertEquals(text((await next).payload), "mine");
  assertEquals(connection.inFlight, 0);
  connection.abort();
  await connection.closed;
});

Deno.test("submits that waited for the write buffer to drain go out as it allows, not all at once", async () => {
  // They used to be let in together when it drained: a burst far past maxWriteBuffer.
  const [server, client] = connectedPair(
    { requestHandler: (_t, _f, payload) => `${payload.byteLength}` },
    { maxPacketSize: 1024 * 1024 }, // maxWriteBuffer: 64 KiB + 1 MiB + 1 MiB
  );
  const payload = new Uint8Array(256 * 1024);
  const answers = await Promise.all(Array.from({ length: 32 }, () => client.call(0, payload)));
  assertEquals(answers.map(text), Array(32).fill("262144"));
  await client.close();
  assertEquals(await server.closed, undefined);
});

import { assertEquals, assertRejects } from "@std/assert";
import {
  ConnectionClosedError,
  EXTENSION_RQ_TYPE,
  Packet,
  PacketConnection,
  type PacketConnectionOptions,
} from "@plexus/net/packet";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { assertInstanceOf } from "../_assert.ts";
import { bytes, connectedPair, encode, gate, RawPeer, text, withRawPeer } from "./_helpers.ts";

const OFFER = bytes("plexus-ext/1?");
const ACCEPT = bytes("plexus-ext/1!");

/** A raw peer that accepts the offer and answers pings while `alive`. */
function acceptingPeer(options: PacketConnectionOptions, answerPings: () => boolean) {
  const { connection, peer, transports } = withRawPeer({ extensions: true, ...options });
  let seen = 0;
  const pings: Packet[] = [];
  const react = () => {
    for (; seen < peer.packets.length; seen++) {
      const p = peer.packets[seen];
      if (!p.isRequest || p.userRqType !== EXTENSION_RQ_TYPE) continue;
      if (p.flags === 0) peer.send(Packet.response(p.tag, true, { payload: ACCEPT }));
      if (p.flags === 2) {
        pings.push(p);
        if (answerPings()) peer.send(Packet.response(p.tag, true));
      }
    }
    return false;
  };
  peer.until(() => react()); // re-checked after every chunk, never resolves
  return { connection, peer, pings, transports };
}

Deno.test("extensions: two Plexus peers agree; channels other than 0 have their own tags", async () => {
  const seen: [number, number][] = [];
  const [server, client] = connectedPair(
    {
      extensions: true,
      requestHandler: (_t, _f, _p, { channel, tag }) => {
        seen.push([channel, tag]);
        return `ch${channel}`;
      },
    },
    { extensions: true },
  );
  assertEquals(await client.extensions, true);
  assertEquals(await server.extensions, true);
  const decode = (p: Uint8Array) => text(p);
  assertEquals(
    await Promise.all([
      client.call(0, "", { channel: 3, decode }),
      client.call(0, "", { channel: 3, decode }),
    ]),
    ["ch3", "ch3"],
  );
  assertEquals(await client.call(0, "", { channel: 300, decode }), "ch300");
  assertEquals(await client.call(0, "", { decode }), "ch0");
  // A channel other than 0 is forgotten once nothing is outstanding on it: tags start over.
  assertEquals(await client.call(0, "", { channel: 3, decode }), "ch3");
  // Channel 0 tags: 2 was the offer, so the first request on channel 0 is tag 3.
  assertEquals(seen, [[3, 0], [3, 1], [300, 0], [0, 3], [3, 0]]);
  await client.close();
});

Deno.test("extensions: a Plexus peer without them answers the offer like any unknown request", async () => {
  const handled: number[] = [];
  const [server, client] = connectedPair(
    { requestHandler: (rqType) => void handled.push(rqType) },
    { extensions: true },
  );
  assertEquals(await client.extensions, false);
  assertEquals(await server.extensions, false);
  await assertRejects(() => client.submit(0, { channel: 1 }), RangeError, "did not accept");
  await client.call(5);
  assertEquals(handled, [5], "the reserved rq_type never reached the handler");
  await client.close();
});

Deno.test("extensions: a cs.packetstream peer sees one ordinary request and nothing else", async () => {
  const { connection, peer } = withRawPeer({ extensions: true });
  await peer.untilPackets(1);
  const [offer] = peer.packets;
  assertEquals(offer, Packet.request(2, EXTENSION_RQ_TYPE, { payload: OFFER }));
  // As the Python peer without a handler answers it:
  peer.send(Packet.response(2, false, { payload: bytes("no request handler") }));
  assertEquals(await connection.extensions, false);
  // Cancelling a request is then local only: no extension packet follows.
  const stop = new AbortController();
  const call = connection.submit(7, { signal: stop.signal });
  await peer.untilPackets(2);
  stop.abort();
  await assertRejects(() => call);
  const closing = connection.close();
  await peer.untilPackets(4);
  assertEquals(peer.packets.slice(1).map((p) => [p.tag, p.userRqType]), [[3, 7], [1, -1], [0, -1]]);
  peer.send(Packet.EOF);
  await closing;
});

Deno.test("extensions: an echoing peer does not count as agreement", async () => {
  const { connection, peer } = withRawPeer({ extensions: true });
  await peer.untilPackets(1);
  peer.send(Packet.response(2, true, { payload: peer.packets[0].payload }));
  assertEquals(await connection.extensions, false);
  connection.abort();
  await connection.closed;
});

Deno.test("extensions: cancelling a request aborts the peer's handler; the late answer is ignored", async () => {
  const aborted = gate<unknown>();
  const started = gate();
  const [server, client] = connectedPair(
    {
      extensions: true,
      requestHandler: (rqType, _f, _p, { signal }) => {
        if (rqType !== 0) return "quick";
        started.resolve();
        return new Promise((resolve) =>
          signal.addEventListener("abort", () => {
            aborted.resolve(signal.reason);
            resolve("finished anyway"); // sent, and ignored by the client
          })
        );
      },
    },
    { extensions: true },
  );
  assertEquals(await client.extensions, true);
  const stop = new AbortController();
  const call = client.call(0, "", { signal: stop.signal });
  await started.promise;
  stop.abort(new Error("not needed"));
  await assertRejects(() => call, Error, "not needed");
  const reason = await aborted.promise;
  assertInstanceOf(reason, DOMException);
  assertEquals(reason.message, "The peer cancelled the request");
  assertEquals(text(await client.call(1)), "quick");
  await client.close();
  assertEquals(await server.closed, undefined);
});

Deno.test("extensions: a timeout cancels at the peer too", async () => {
  const aborted = gate();
  const [, client] = connectedPair(
    {
      extensions: true,
      requestHandler: (_t, _f, _p, { signal }) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => {
            aborted.resolve();
            reject(signal.reason);
          })
        ),
    },
    { extensions: true },
  );
  assertEquals(await client.extensions, true);
  const error = await assertRejects(() => client.call(0, "", { timeout: 5 }), DOMException);
  assertEquals(error.name, "TimeoutError");
  await aborted.promise;
  await client.close();
});

Deno.test("extensions: a request cancelled while queued is answered without running", async () => {
  const release = gate();
  const ran: string[] = [];
  const { connection, peer } = withRawPeer({
    extensions: true,
    maxConcurrentHandlers: 2,
    requestHandler: async (_t, _f, payload) => {
      ran.push(text(payload));
      await release.promise;
    },
  });
  // The raw peer plays a Plexus client: offer, then two that run, one queued, a cancel of the
  // queued one (flags 1, BSUInt channel 0, BSUInt tag 4), and one more.
  peer.send(Packet.request(2, EXTENSION_RQ_TYPE, { payload: OFFER }));
  assertEquals(await peer.response(2), Packet.response(2, true, { payload: ACCEPT }));
  peer.send(
    Packet.request(3, 0, { payload: bytes("first") }),
    Packet.request(9, 0, { payload: bytes("second") }),
    Packet.request(4, 0, { payload: bytes("queued") }),
    Packet.request(5, EXTENSION_RQ_TYPE, { flags: 1, payload: new Uint8Array([0, 4]) }),
    Packet.request(6, 0, { payload: bytes("last") }),
  );
  assertEquals(await peer.response(5), Packet.response(5, true));
  release.resolve();
  assertEquals(
    await peer.response(4),
    Packet.response(4, false, { payload: bytes("request cancelled") }),
  );
  assertEquals(await peer.response(6), Packet.response(6, true));
  assertEquals(ran, ["first", "second", "last"]);
  connection.abort();
  await connection.closed;
});

Deno.test("extensions: malformed or unknown extension requests are refused, not fatal", async () => {
  const { connection, peer } = withRawPeer({ extensions: true });
  peer.send(Packet.request(2, EXTENSION_RQ_TYPE, { flags: 2 })); // ping before any offer
  assertEquals(
    await peer.response(2),
    Packet.response(2, false, { payload: bytes("extensions not offered") }),
  );
  peer.send(Packet.request(3, EXTENSION_RQ_TYPE, { payload: bytes("plexus-ext/9?") }));
  assertEquals(
    await peer.response(3),
    Packet.response(3, false, { payload: bytes("unsupported extension version") }),
  );
  peer.send(
    Packet.request(4, EXTENSION_RQ_TYPE, { payload: OFFER }),
    Packet.request(5, EXTENSION_RQ_TYPE, { flags: 1, payload: new Uint8Array([0x80]) }),
    Packet.request(6, EXTENSION_RQ_TYPE, { flags: 7 }),
    Packet.request(7, EXTENSION_RQ_TYPE, { flags: 1, payload: new Uint8Array([0, 99]) }),
  );
  assertEquals(
    await peer.response(5),
    Packet.response(5, false, { payload: bytes("malformed cancel") }),
  );
  assertEquals(
    await peer.response(6),
    Packet.response(6, false, { payload: bytes("unknown extension operation 7") }),
  );
  assertEquals(
    await peer.response(7),
    Packet.response(7, true),
    "cancelling an unknown tag is fine",
  );
  connection.abort();
  await connection.closed;
});

Deno.test("keep-alive: a silent peer is detected and the connection aborted", async () => {
  const { connection, pings } = acceptingPeer({ keepAlive: 5 }, () => false);
  assertEquals(await connection.extensions, true);
  const pending = connection.call(0);
  const closed = await connection.closed;
  assertInstanceOf(closed, ConnectionClosedError);
  assertEquals(closed.message, "Connection lost: no packet from the peer in 10 ms (keep-alive)");
  await assertRejects(() => pending, ConnectionClosedError, "keep-alive");
  assertEquals(pings.length, 1);
});

Deno.test("keep-alive: a peer that answers pings stays connected", async () => {
  // Asserts on the exchange, not on elapsed time: every ping is answered (over the memory
  // pair the answer arrives before the next tick), and the connection is still open after
  // several rounds.
  let closed = false;
  const { connection, peer, pings, transports } = acceptingPeer({ keepAlive: 10 }, () => true);
  connection.closed.then(() => closed = true);
  assertEquals(await connection.extensions, true);
  await peer.until(() => pings.length >= 3 || closed);
  assertEquals(closed, false);
  assertEquals(new Set(pings.map((p) => p.tag)).size, pings.length, "each ping is a new request");
  connection.abort();
  // The peer closes too: a memory channel read that raced with close() may otherwise never
  // settle (see the report on transport/memory_channel.ts).
  transports[1].close();
  await connection.closed;
});

Deno.test("keep-alive: pings go on while close() waits for a handler; a silent peer is caught then", async () => {
  // close() waits for the running handler before it sends EOF. The peer stops answering
  // pings: keep-alive aborts the close long before closeTimeout would.
  const started = gate();
  const { connection, peer, pings, transports } = acceptingPeer({
    keepAlive: 5,
    closeTimeout: 5_000,
    requestHandler: (_t, _f, _p, { signal }) => {
      started.resolve();
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason))
      );
    },
  }, () => false);
  assertEquals(await connection.extensions, true);
  peer.send(Packet.request(10, 0));
  await started.promise;
  const before = pings.length;
  const closing = connection.close();
  const closed = await connection.closed;
  assertInstanceOf(closed, ConnectionClosedError);
  assertEquals(closed.message, "Connection lost: no packet from the peer in 10 ms (keep-alive)");
  assertEquals(pings.length, before + 1, "a ping went out after close() started");
  await closing;
  transports[1].close();
});

Deno.test("keep-alive: a connection whose handlers are all busy still hears the peer", async () => {
  // Reading used to stop while the handler queue was full, so the answers to our pings went
  // unread and a live peer was declared dead.
  const release = gate();
  let closed = false;
  const { connection, peer, pings, transports } = acceptingPeer({
    keepAlive: 5,
    maxConcurrentHandlers: 1,
    requestHandler: () => release.promise.then(() => "done"),
  }, () => true);
  connection.closed.then(() => closed = true);
  assertEquals(await connection.extensions, true);
  peer.send(Packet.request(10, 0), Packet.request(11, 0)); // one runs, one waits
  const seen = pings.length;
  await Promise.race([peer.until(() => pings.length >= seen + 3), connection.closed]);
  assertEquals(closed, false);
  release.resolve();
  assertEquals(await peer.response(11), Packet.response(11, true, { payload: bytes("done") }));
  connection.abort();
  transports[1].close();
  await connection.closed;
});

Deno.test("keep-alive: a large packet arriving slowly counts as life", async () => {
  // The peer sends one piece of a large request each time we ping it: bytes arrive, but no
  // whole packet for many periods.
  const request = encode(Packet.request(10, 0, { payload: new Uint8Array(4000).fill(7) }));
  const size = Math.ceil(request.byteLength / 5);
  const pieces = Array.from({ length: 5 }, (_, i) => request.subarray(i * size, (i + 1) * size));
  let closed = false;
  const { connection, peer, transports } = acceptingPeer({
    keepAlive: 5,
    requestHandler: (_t, _f, payload) => `${payload.byteLength}`,
  }, () => {
    const piece = pieces.shift();
    if (piece) peer.send(piece);
    return false; // no answer: it would land inside the request
  });
  connection.closed.then(() => closed = true);
  assertEquals(await connection.extensions, true);
  await Promise.race([peer.response(10), connection.closed]);
  assertEquals(closed, false);
  assertEquals(await peer.response(10), Packet.response(10, true, { payload: bytes("4000") }));
  connection.abort();
  transports[1].close();
  await connection.closed;
});

Deno.test("keep-alive: silence is not held against the peer while our reading is paused", async () => {
  // A silent peer, our reading paused: its bytes could be waiting unread. A second connection
  // with a 4 times longer period serves as the clock.
  const paused = acceptingPeer({ keepAlive: 5 }, () => false);
  const clock = acceptingPeer({ keepAlive: 20 }, () => false);
  assertEquals(await paused.connection.extensions, true);
  paused.connection.transport!.pauseReading();
  assertEquals(await clock.connection.extensions, true);
  let closed = false;
  paused.connection.closed.then(() => closed = true);
  assertInstanceOf(await clock.connection.closed, ConnectionClosedError);
  assertEquals(closed, false, "outlived a connection with 4 times its period");
  paused.connection.transport!.resumeReading();
  const error = await paused.connection.closed;
  assertInstanceOf(error, ConnectionClosedError);
  assertEquals(error.message, "Connection lost: no packet from the peer in 10 ms (keep-alive)");
});

Deno.test("extensions: the peer's EOF while a submit waits for the offer's answer is a ConnectionClosedError", async () => {
  const { connection, peer } = withRawPeer({ extensions: true });
  const submit = connection.submit(0, { channel: 1 });
  await peer.untilPackets(1); // the offer, never answered
  peer.send(Packet.EOF);
  await assertRejects(
    () => submit,
    ConnectionClosedError,
    "Cannot submit request on channel 1 (waiting for the peer's answer to the offer of the " +
      "extensions): the peer sent EOF",
  );
  assertEquals(await connection.extensions, false);
  peer.send(Packet.EOF);
  await connection.closed;
});

Deno.test("extensions: an offer unanswered within offerTimeout counts as refused", async () => {
  const { connection, peer } = withRawPeer({ extensions: true, offerTimeout: 1, keepAlive: 1 });
  await assertRejects(
    () => connection.submit(0, { channel: 1 }),
    RangeError,
    "which the peer did not accept (no answer to the offer within offerTimeout 1 ms)",
  );
  assertEquals(await connection.extensions, false);
  // A late acceptance changes nothing: a cancel stays local, and no ping ever goes out.
  peer.send(Packet.response(2, true, { payload: ACCEPT }));
  const stop = new AbortController();
  const call = connection.submit(5, { signal: stop.signal });
  await peer.untilPackets(2);
  stop.abort();
  await assertRejects(() => call);
  peer.send(Packet.response(3, true)); // the late answer to the cancelled request
  const closing = connection.close();
  await peer.untilPackets(4);
  assertEquals(peer.packets.slice(1).map((p) => [p.tag, p.userRqType]), [[3, 5], [1, -1], [0, -1]]);
  peer.send(Packet.EOF);
  await closing;
});

Deno.test("the peer's offer is refused by a connection without extensions, even with a handler", async () => {
  const { connection, peer: raw } = withRawPeer({ requestHandler: () => "served" });
  raw.send(Packet.request(2, EXTENSION_RQ_TYPE, { payload: OFFER }));
  assertEquals(
    await raw.response(2),
    Packet.response(2, false, { payload: bytes("no request handler") }),
  );
  connection.abort();
  await connection.closed;
});

for (const closeTransport of [false, true]) {
  Deno.test(`keep-alive: a peer that stops reading is gone (its transport closed under it: ${closeTransport})`, async () => {
    const connection = new PacketConnection({ extensions: true, keepAlive: 5 });
    const peer = new RawPeer();
    const transports = createMemoryTransportPair(connection, peer, { capacity: 1024 });
    await peer.untilPackets(1);
    peer.send(Packet.response(peer.packets[0].tag, true, { payload: bytes("plexus-ext/1!") }));
    await connection.extensions;
    peer.transport.pauseReading(); // for good
    connection.call(0, new Uint8Array(64 * 1024)).catch(() => {});
    // A graceful close by the transport's owner (a Server, the application): its flush never ends.
    if (closeTransport) transports[0].close();
    let guard: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      connection.closed,
      new Promise((resolve) => guard = setTimeout(() => resolve("still open after 2 s"), 2000)),
    ]);
    clearTimeout(guard);
    transports[0].abort();
    transports[1].abort();
    await connection.closed;
    assertInstanceOf(result, ConnectionClosedError);
    const said = closeTransport ? "none of our last bytes" : "no packet from the peer";
    assertEquals(result.message.includes(said), true, result.message);
  });
}

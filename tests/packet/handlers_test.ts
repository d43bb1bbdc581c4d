/**
 * The serving and requesting tables on their own, with a recording writer: what they hold,
 * when they answer, and that they forget channels a peer (or the caller) named.
 */

import { assertEquals } from "@std/assert";
import { Packet, PacketConnection, PacketFramer, RemoteError } from "@plexus/net/packet";
import { assertInstanceOf } from "../_assert.ts";
import { Handlers } from "../../packet/_handlers.ts";
import { RequestAbort } from "../../packet/_request_abort.ts";
import { Requests } from "../../packet/_requests.ts";
import { PacketCounters } from "../../packet/_stats.ts";
import { PacketWriter } from "../../packet/_writer.ts";
import type { PacketRequestHandler, PacketResponse } from "../../packet/types.ts";
import { bytes, gate, text } from "./_helpers.ts";

/** A writer that records the packets sent instead of writing them. */
function recordingWriter(): { writer: PacketWriter; sent: Packet[] } {
  const sent: Packet[] = [];
  const writer = new PacketWriter(new PacketFramer().maxPacketSize, 0);
  writer.request = (tag, rqType, flags, channel, payload) =>
    void sent.push(Packet.request(tag, rqType, { flags, channel, payload }));
  writer.response = (tag, ok, flags, channel, payload) => {
    sent.push(Packet.response(tag, ok, { flags, channel, payload }));
    return true;
  };
  writer.packet = (packet: Packet) => void sent.push(packet);
  return { writer, sent };
}

/** Handlers over a recording writer, with writing paused or not as `writable.on` says. */
function handlers(
  handler: PacketRequestHandler,
  limits = { maxConcurrent: 2, maxQueued: 2 },
): { handlers: Handlers; sent: Packet[]; writable: { on: boolean } } {
  const { writer, sent } = recordingWriter();
  const writable = { on: true };
  const h = new Handlers(new PacketConnection(), writer, handler, limits, () => {}, {
    canWrite: () => writable.on,
    counters: new PacketCounters(),
  });
  return { handlers: h, sent, writable };
}

const request = (tag: number, payload = "", channel = 0): Packet =>
  Packet.request(tag, 0, { channel, payload: bytes(payload) });

Deno.test("handlers: a channel's table is dropped once nothing on it is served", () => {
  const { handlers: h, sent } = handlers(() => "ok", { maxConcurrent: 1, maxQueued: 1 });
  for (let channel = 1; channel <= 1000; channel++) h.accept(request(0, "", channel));
  assertEquals(sent.length, 1000);
  assertEquals(h.channels, 0);
});

Deno.test("handlers: cancels naming unknown channels leave nothing behind", () => {
  const { handlers: h } = handlers(() => "ok");
  for (let channel = 1; channel <= 1000; channel++) h.cancel(channel, 0, new Error("stop"));
  assertEquals(h.channels, 0, "before the fix every channel named kept an empty table");
});

Deno.test("handlers: while writing is paused, nothing starts and finished responses wait in order", async () => {
  const gates = Array.from({ length: 4 }, () => gate());
  const started: string[] = [];
  const { handlers: h, sent, writable } = handlers(async (_t, _f, payload) => {
    const name = text(payload);
    started.push(name);
    await gates[Number(name)].promise;
    return name;
  });
  h.accept(request(2, "0"));
  h.accept(request(3, "1"));
  writable.on = false;
  h.accept(request(4, "2")); // slots free up below, but writing is paused
  gates[1].resolve();
  gates[0].resolve();
  // Both handlers' continuations, and the handlers' reactions to their promises, were queued
  // before this test's continuation: they have finished when it resumes.
  await Promise.all([gates[0].promise, gates[1].promise]);
  assertEquals(sent, [], "both responses wait, holding their slots");
  assertEquals(started, ["0", "1"]);
  h.accept(request(5, "3"));
  h.accept(request(6, "4"));
  assertEquals(sent.map((p) => [p.tag, text(p.payload)]), [[6, "too many requests"]]);
  writable.on = true;
  h.resumeWriting();
  assertEquals(
    sent.slice(1).map((p) => [p.tag, text(p.payload)]),
    [[3, "1"], [2, "0"]],
    "in the order they finished",
  );
  assertEquals(started, ["0", "1", "2", "3"], "then the queued ones start");
  h.end(new Error("over"));
  await h.idle();
});

Deno.test("handlers: a queued request the peer cancels is answered at once and never runs", () => {
  const started: string[] = [];
  const { handlers: h, sent } = handlers((_t, _f, payload) => {
    started.push(text(payload));
    return new Promise(() => {});
  }, { maxConcurrent: 1, maxQueued: 4 });
  h.accept(request(2, "running"));
  h.accept(request(3, "queued", 7));
  h.cancel(7, 3, new Error("stop"));
  assertEquals(sent, [
    Packet.response(3, false, { channel: 7, payload: bytes("request cancelled") }),
  ]);
  assertEquals(h.channels, 0);
  assertEquals(started, ["running"]);
  h.end(new Error("over"));
});

Deno.test("requests: a channel's table and tag counter go once nothing on it is outstanding", () => {
  const { writer, sent } = recordingWriter();
  const requests = new Requests(writer, { canSend: () => true, cancelled: () => {} }, 10_000);
  const pending: Promise<unknown>[] = [];
  for (let channel = 1; channel <= 1000; channel++) {
    requests.tryTake();
    pending.push(requests.send(0, 0, channel, new Uint8Array(0), true, undefined));
  }
  assertEquals(requests.channels, 1000);
  for (const p of sent) requests.answer(Packet.response(p.tag, true, { channel: p.channel }));
  assertEquals([requests.channels, requests.inFlight], [0, 0]);
  // Tags on a forgotten channel start over; nothing outstanding can be confused with them.
  requests.tryTake();
  pending.push(requests.send(0, 0, 5, new Uint8Array(0), true, undefined));
  assertEquals(sent.at(-1)!.tag, 0);
  requests.rejectPending("done");
  return Promise.allSettled(pending).then(() => {});
});

Deno.test("requests: a cancelled request stays until its late response, keeping the channel's tags", async () => {
  const { writer, sent } = recordingWriter();
  const cancelled: number[] = [];
  const requests = new Requests(writer, {
    canSend: () => true,
    cancelled: (_channel, tag) => void cancelled.push(tag),
  }, 10);
  const stop = new AbortController();
  requests.tryTake();
  const first = requests.send(
    0,
    0,
    3,
    new Uint8Array(0),
    true,
    new RequestAbort(stop.signal, undefined, "first"),
  );
  stop.abort(new Error("stop"));
  await first.catch(() => {});
  assertEquals([requests.inFlight, requests.channels, cancelled], [1, 1, [0]]);
  requests.tryTake();
  const second = requests.send(0, 0, 3, new Uint8Array(0), true, undefined);
  assertEquals(sent.map((p) => p.tag), [0, 1], "tag 0 is not reused while its answer may come");
  requests.answer(Packet.response(0, true, { channel: 3 })); // the late one: dropped
  assertEquals([requests.inFlight, requests.channels], [1, 1]);
  requests.answer(Packet.response(1, true, { channel: 3, payload: bytes("second") }));
  assertEquals(text((await second as PacketResponse).payload), "second");
  assertEquals([requests.inFlight, requests.channels], [0, 0]);
});

Deno.test("handlers: held responses go out only while the transport takes them", async () => {
  const gates = [gate(), gate()];
  const { handlers: h, sent, writable } = handlers(async (_t, _f, payload) => {
    await gates[Number(text(payload))].promise;
    return text(payload);
  });
  h.accept(request(2, "0"));
  h.accept(request(3, "1"));
  writable.on = false;
  gates[0].resolve();
  gates[1].resolve();
  await Promise.all([gates[0].promise, gates[1].promise]);
  assertEquals(sent, [], "both responses wait");
  // The first response fills the write buffer again: the second waits for the next drain.
  const push = sent.push.bind(sent);
  sent.push = (...packets) => {
    writable.on = false;
    return push(...packets);
  };
  writable.on = true;
  h.resumeWriting();
  assertEquals(sent.map((p) => text(p.payload)), ["0"]);
  writable.on = true;
  h.resumeWriting();
  assertEquals(sent.map((p) => text(p.payload)), ["0", "1"]);
  h.end(new Error("over"));
  await h.idle();
});

Deno.test("handlers: a request that expires while queued behind paused writing leaves them idle", async () => {
  const { handlers: h, sent, writable } = handlers(() => "never runs");
  h.useRequestTimeout(1);
  writable.on = false;
  h.accept(request(2, "queued")); // no slot is taken: writing is paused
  let idle = false;
  void h.idle().then(() => idle = true);
  const answered = gate();
  const push = sent.push.bind(sent);
  sent.push = (...packets) => {
    const n = push(...packets);
    answered.resolve();
    return n;
  };
  await answered.promise;
  assertEquals(sent.map((p) => [p.tag, p.ok]), [[2, false]]);
  // Nothing runs, waits or holds a response now: idle (one turn after the answer went out),
  // without waiting for writing to resume.
  await Promise.resolve();
  assertEquals(idle, true);
  h.end(new Error("over"));
});

Deno.test("handlers: a long queue of handlers that finish at once drains without deep recursion", () => {
  const n = 20_000;
  const { handlers: h, sent, writable } = handlers(() => "ok", { maxConcurrent: 1, maxQueued: n });
  writable.on = false;
  for (let tag = 0; tag < n; tag++) h.accept(request(tag));
  writable.on = true;
  h.resumeWriting();
  assertEquals(sent.length, n);
  assertEquals(sent.every((p, i) => p.tag === i && p.ok && text(p.payload) === "ok"), true);
});

/** Handlers over a recording writer that report handler failures into `errors`. */
function reporting(handler: PacketRequestHandler) {
  const { writer, sent } = recordingWriter();
  const errors: unknown[] = [];
  const counters = new PacketCounters();
  const h = new Handlers(
    new PacketConnection(),
    writer,
    handler,
    { maxConcurrent: 2, maxQueued: 2 },
    (error) => void errors.push(error),
    { canWrite: () => true, counters },
  );
  const answered = (n: number): Promise<void> => {
    if (sent.length >= n) return Promise.resolve();
    const done = gate();
    const push = sent.push.bind(sent);
    sent.push = (...packets) => {
      const length = push(...packets);
      if (length >= n) done.resolve();
      return length;
    };
    return done.promise;
  };
  return { handlers: h, sent, errors, counters, answered };
}

Deno.test("handlers: a RemoteError with bad flags is a handler failure, not a corrupt packet", async () => {
  const { handlers: h, sent, errors, answered } = reporting(() => {
    throw new RemoteError(-1, "bad flags");
  });
  h.accept(request(2));
  await answered(1);
  assertEquals([...sent], [
    Packet.response(2, false, { payload: bytes("exception during handler") }),
  ]);
  assertEquals(errors.length, 1);
  assertInstanceOf(errors[0], TypeError);
});

Deno.test("handlers: a handler that fails with its own abort reason is not reported", async () => {
  const { handlers: h, sent, errors, answered } = reporting((_t, _f, _p, { signal }) =>
    new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)))
  );
  h.accept(request(2));
  h.cancel(0, 2, new DOMException("The peer cancelled the request", "AbortError"));
  await answered(1);
  assertEquals([...sent], [
    Packet.response(2, false, { payload: bytes("exception during handler") }),
  ]);
  assertEquals(errors, []);
});

Deno.test("handlers: a handler that finishes after end() sends and counts nothing", async () => {
  const release = gate();
  const { handlers: h, sent, errors, counters } = reporting(async () => {
    await release.promise;
    return "late";
  });
  h.accept(request(2));
  h.end(new Error("over"));
  release.resolve();
  await release.promise;
  await Promise.resolve(); // the handler's promise settled; its reaction ran
  assertEquals([sent, errors, counters.requestsServed, counters.failed], [[], [], 0, 0]);
});

Deno.test("handlers: a running request past requestTimeout gets one response; its late result is dropped", async () => {
  const release = gate();
  const { handlers: h, sent, counters, answered } = reporting(async () => {
    await release.promise;
    return "late";
  });
  h.useRequestTimeout(1);
  h.accept(request(2));
  await answered(1);
  assertEquals([sent[0].tag, sent[0].ok], [2, false]);
  release.resolve();
  await h.idle(); // the handler finished and gave its slot back
  assertEquals(sent.length, 1);
  assertEquals([counters.requestsServed, counters.failed], [0, 1]);
  h.end(new Error("over"));
});

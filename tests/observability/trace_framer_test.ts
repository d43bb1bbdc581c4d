/**
 * Tracing on (a `plexus:frame` subscriber) must not change what a connection does: a framer
 * made as a null-prototype object (valid per the `Framer` interface) has no `constructor` to
 * name it by.
 */
import dc from "node:diagnostics_channel";
import {
  FramedProtocol,
  type Framer,
  IdentityFramer,
  type ReceiveBuffer,
} from "@plexus/net/framing";
import {
  createMemoryTransportPair,
  type FrameTraceEvent,
  type SendBuffer,
} from "@plexus/net/transport";
import { assertEquals } from "@std/assert";

/** A framer built as a null-prototype object (a dictionary of functions). */
function bareFramer(): Framer<Uint8Array> {
  const framer = Object.create(null) as Framer<Uint8Array>;
  framer.encode = (frame: Uint8Array, out: SendBuffer) => out.write(frame);
  framer.decode = (buffer: ReceiveBuffer) =>
    buffer.length > 0 ? buffer.take(buffer.length) : undefined;
  return framer;
}

/** Sends [1, 2, 3] between two bare-framer protocols; what was thrown, received and traced. */
async function exchange(traced: boolean) {
  const events: string[] = [];
  const listener = (message: unknown) => {
    const e = message as FrameTraceEvent;
    events.push(`${e.direction} ${e.framer} ${e.bytes?.byteLength}`);
  };
  if (traced) dc.subscribe("plexus:frame", listener);
  try {
    const received: number[] = [];
    const server = new FramedProtocol(bareFramer(), {
      frameReceived: (frame) => received.push(...frame),
    });
    const client = new FramedProtocol(bareFramer(), { frameReceived() {} });
    createMemoryTransportPair(server, client);
    let error: string | undefined;
    try {
      client.sendFrame(new Uint8Array([1, 2, 3]));
    } catch (e) {
      error = String(e);
    }
    await client.transport.flushed!();
    client.close();
    const lost = await Promise.all([client.closed, server.closed]);
    return { error, received, lost: lost.map(String), events };
  } finally {
    if (traced) dc.unsubscribe("plexus:frame", listener);
  }
}

Deno.test("a framer without a constructor works the same with tracing on", async () => {
  const off = await exchange(false);
  assertEquals(off, {
    error: undefined,
    received: [1, 2, 3],
    lost: ["undefined", "undefined"],
    events: [],
  });
  const on = await exchange(true);
  assertEquals({ ...on, events: [] }, off);
  assertEquals(on.events, ["send Object 3", "receive Object 3"]);
});

Deno.test("a traced sendFrame that throws after encoding leaves no bytes for the next write", async () => {
  const listener = () => {};
  dc.subscribe("plexus:frame", listener);
  try {
    const received: number[] = [];
    const server = new FramedProtocol(new IdentityFramer(), {
      frameReceived: (frame) => received.push(...frame),
    });
    // Encodes fine; naming it for the trace event throws.
    const unnamed = Object.defineProperty(bareFramer(), "constructor", {
      get(): never {
        throw new TypeError("no name");
      },
    });
    const client = new FramedProtocol(unnamed, { frameReceived() {} });
    createMemoryTransportPair(server, client);
    let error: unknown;
    try {
      client.sendFrame(new Uint8Array([1, 2, 3]));
    } catch (e) {
      error = e;
    }
    client.transport.write(new Uint8Array([9]));
    await client.transport.flushed!();
    client.close();
    await Promise.all([client.closed, server.closed]);
    assertEquals({ error: String(error), received }, {
      error: "TypeError: no name",
      received: [9],
    });
  } finally {
    dc.unsubscribe("plexus:frame", listener);
  }
});

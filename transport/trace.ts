/**
 * The wire trace: one hook that every layer publishes to — connections opening and closing
 * (transport), frames each way (the framed core), packets each way (the packet layer) — each
 * event naming its connection.
 *
 * The hook is `node:diagnostics_channel`, on three named channels:
 *
 * | channel             | published by                                  | event                        |
 * | ------------------- | --------------------------------------------- | ---------------------------- |
 * | `plexus:connection` | transports, when they open and close          | {@linkcode ConnectionTraceEvent} |
 * | `plexus:frame`      | the one decode loop, `sendFrame`, packet sends, UDP datagrams | {@linkcode FrameTraceEvent}  |
 * | `plexus:packet`     | `PacketConnection`, each packet each way      | {@linkcode PacketTraceMessage} |
 *
 * Why `diagnostics_channel` rather than a callback or an `EventTarget`:
 *
 * - **Off costs one branch.** Every publishing site asks `channel.hasSubscribers` (a getter
 *   over a field, about half a nanosecond) and builds nothing — no event object, no string,
 *   no copy of the bytes — when nobody listens. An `EventTarget` would need an `Event` per
 *   dispatch, a callback option would have to be threaded through every layer and factory.
 * - **One hook for every layer and every connection**, reachable from anywhere without a
 *   reference to the connection: a debugging session, a test or an APM agent subscribes by
 *   name, as it does to Node's own `net` and `http` channels (Deno runs them too).
 * - **Layers stay apart.** The transport owns the channels; the framing and packet layers only
 *   publish to them, so no layer learns of the one above.
 *
 * {@linkcode subscribe} adds handlers for some or all channels and returns a `Disposable`;
 * {@linkcode traceToConsole} is a ready subscriber that prints one line per event (with the
 * bytes as a Netty `LoggingHandler` table when `hex` is set). Subscribers run synchronously
 * inside the publishing call: keep them cheap, and copy what you keep (frames and bytes are
 * views, a packet frame from the decode loop is a reused record).
 *
 * A throwing subscriber cannot break a connection: handlers added by {@linkcode subscribe}
 * (and so {@linkcode traceToConsole}) are wrapped, and an error they throw is logged with
 * `console.error`; one subscribed straight through `node:diagnostics_channel` is swallowed by
 * Deno's `publish` (silently), so the publishing call returns normally either way.
 *
 * @example Watch a line echo go by
 * ```ts
 * import { createMemoryChannelPair, StreamTransport, subscribe } from "@plexus/net/transport";
 * import { FramedProtocol, LineFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const seen: string[] = [];
 * using _ = subscribe({
 *   connection: (e) => seen.push(`${e.name} ${e.event}`),
 *   frame: (e) => seen.push(`${e.name} ${e.direction} ${e.bytes?.byteLength}B ${e.framer}`),
 * });
 * const echo = new FramedProtocol(new LineFramer(), {
 *   frameReceived: (line, framed) => framed.sendFrame(line),
 * });
 * const client = new FramedProtocol(new LineFramer(), {
 *   connectionMade: (framed) => framed.sendFrame(new TextEncoder().encode("hi")),
 *   frameReceived: (_line, framed) => framed.close(),
 * });
 * const [a, b] = createMemoryChannelPair();
 * new StreamTransport(a, echo, { name: "echo" });
 * new StreamTransport(b, client, { name: "client" });
 * await Promise.all([echo.closed, client.closed]);
 * assertEquals(seen.slice(0, 5), [
 *   "echo open",
 *   "client open",
 *   "client send 4B LineFramer",
 *   "echo receive 4B LineFramer",
 *   "echo send 4B LineFramer",
 * ]);
 * ```
 *
 * @module
 */

import diagnosticsChannel from "node:diagnostics_channel";
import { hexdump, hexdumpLine } from "./hexdump.ts";
import type { CloseReason } from "./stats.ts";
import type { BaseTransport } from "./types.ts";

/**
 * The channel of connection events: {@linkcode ConnectionTraceEvent}.
 *
 * @example Subscribe straight through `node:diagnostics_channel`
 * ```ts
 * import diagnosticsChannel from "node:diagnostics_channel";
 * import { CONNECTION_CHANNEL } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const listener = (event: unknown) => console.log(event);
 * diagnosticsChannel.subscribe(CONNECTION_CHANNEL, listener);
 * diagnosticsChannel.unsubscribe(CONNECTION_CHANNEL, listener);
 * assertEquals(CONNECTION_CHANNEL, "plexus:connection");
 * ```
 */
export const CONNECTION_CHANNEL = "plexus:connection";
/**
 * The channel of frame events: {@linkcode FrameTraceEvent}.
 *
 * @example Ask whether anyone traces frames
 * ```ts
 * import diagnosticsChannel from "node:diagnostics_channel";
 * import { FRAME_CHANNEL, subscribe } from "@plexus/net/transport";
 * import { assert } from "@std/assert";
 *
 * using _ = subscribe({ frame: () => {} });
 * assert(diagnosticsChannel.channel(FRAME_CHANNEL).hasSubscribers);
 * ```
 */
export const FRAME_CHANNEL = "plexus:frame";
/**
 * The channel of packet events: {@linkcode PacketTraceMessage}.
 *
 * @example Subscribe straight through `node:diagnostics_channel`
 * ```ts
 * import diagnosticsChannel from "node:diagnostics_channel";
 * import { PACKET_CHANNEL, type PacketTraceMessage } from "@plexus/net/transport";
 *
 * const listener = (message: unknown) => console.log((message as PacketTraceMessage).text);
 * diagnosticsChannel.subscribe(PACKET_CHANNEL, listener);
 * diagnosticsChannel.unsubscribe(PACKET_CHANNEL, listener);
 * ```
 */
export const PACKET_CHANNEL = "plexus:packet";

/**
 * Which way a frame or packet went: `"send"` to the peer, `"receive"` from it.
 *
 * @example Count the frames received
 * ```ts
 * import { subscribe, type TraceDirection } from "@plexus/net/transport";
 *
 * const wanted: TraceDirection = "receive";
 * let received = 0;
 * using _ = subscribe({
 *   frame: (e) => {
 *     if (e.direction === wanted) received++;
 *   },
 * });
 * ```
 */
export type TraceDirection = "send" | "receive";

/**
 * A connection opened or closed (`plexus:connection`).
 *
 * `open` is published when the transport is made, before its protocol's `connectionMade()`
 * (so it comes before any frame); `close` once it has ended, after `connectionLost()`: it is
 * the connection's last event.
 *
 * @example Log why connections close
 * ```ts
 * import { type ConnectionTraceEvent, subscribe } from "@plexus/net/transport";
 *
 * using _ = subscribe({
 *   connection: (e: ConnectionTraceEvent) => {
 *     if (e.event === "close") console.log(`${e.name} closed: ${e.reason}`);
 *   },
 * });
 * ```
 */
export interface ConnectionTraceEvent {
  /** `"open"` or `"close"`. */
  readonly event: "open" | "close";
  /** The connection's name (the transport's `name`: by default the peer's `host:port`). */
  readonly name: string;
  /** The transport. */
  readonly transport: BaseTransport;
  /** Why it closed (`close` events only). */
  readonly reason?: CloseReason;
  /** The error it was lost with (`close` events only; `undefined` for an orderly end). */
  readonly error?: Error;
}

/**
 * A frame decoded from the peer or encoded for it (`plexus:frame`).
 *
 * Received frames are published by the one decode loop every framed protocol runs on
 * (`FramedProtocol`, `MessageProtocol`, `PacketConnection`), just before delivery; sent frames
 * by `FramedProtocol.sendFrame()` and the packet writer, once encoded into the transport's send
 * buffer (before the socket write). A UDP transport publishes each datagram as a frame, its
 * framer `"datagram"`: received before `datagramReceived()`, sent once `sendto()` queued it.
 *
 * @example Count the bytes of frames received per connection
 * ```ts
 * import { type FrameTraceEvent, subscribe } from "@plexus/net/transport";
 *
 * const received = new Map<string, number>();
 * using _ = subscribe({
 *   frame: (e: FrameTraceEvent) => {
 *     if (e.direction !== "receive") return;
 *     received.set(e.name, (received.get(e.name) ?? 0) + (e.bytes?.byteLength ?? 0));
 *   },
 * });
 * ```
 */
export interface FrameTraceEvent {
  /** The connection's name. */
  readonly name: string;
  /** The transport. */
  readonly transport: BaseTransport;
  /** Which way the frame went. */
  readonly direction: TraceDirection;
  /**
   * The frame as the framer decoded it or was given it: valid during the call (a packet
   * connection's decoded frame is a reused record).
   */
  readonly frame: unknown;
  /**
   * The frame's bytes as on the wire (prefix, delimiter, escapes included): a copy, yours to
   * keep. `undefined` in the rare case a decoder moved the receive buffer while decoding.
   */
  readonly bytes: Uint8Array | undefined;
  /**
   * The framer's class name (`LineFramer`, `LengthPrefixedFramer`, `PacketDecoder`, ...),
   * `"Object"` for a framer made as a plain object, or `"datagram"` for a UDP transport's
   * datagrams.
   */
  readonly framer: string;
}

/**
 * A packet sent or received by a packet connection (`plexus:packet`); the packet layer's
 * `PacketTraceEvent` is this with its `Packet` type.
 *
 * @example Print packets in the original's text form
 * ```ts
 * import { type PacketTraceMessage, subscribe } from "@plexus/net/transport";
 *
 * using _ = subscribe({
 *   packet: (e: PacketTraceMessage) => console.log(`${e.name} ${e.direction} ${e.text}`),
 * });
 * ```
 */
export interface PacketTraceMessage {
  /** The connection's name (its `name` option, else its transport's name). */
  readonly name: string;
  /** The transport. */
  readonly transport: BaseTransport;
  /** Which way the packet went. */
  readonly direction: TraceDirection;
  /** The packet (a `Packet` of the packet layer), its own object. */
  readonly packet: unknown;
  /** The packet as text, as cs.packetstream prints packets. */
  readonly text: string;
}

/**
 * The handlers of {@linkcode subscribe}: any of the three channels.
 *
 * @example Packets only
 * ```ts
 * import { subscribe, type TraceHandlers } from "@plexus/net/transport";
 *
 * const handlers: TraceHandlers = { packet: (e) => console.log(e.name, e.direction, e.text) };
 * using _ = subscribe(handlers);
 * ```
 */
export interface TraceHandlers {
  /** Gets `plexus:connection` events. */
  connection?: (event: ConnectionTraceEvent) => void;
  /** Gets `plexus:frame` events. */
  frame?: (event: FrameTraceEvent) => void;
  /** Gets `plexus:packet` events. */
  packet?: (event: PacketTraceMessage) => void;
}

/**
 * A subscription: dispose of it (or call `unsubscribe()`) to stop.
 *
 * @example Stop by hand, or at the end of a scope
 * ```ts
 * import { subscribe, type TraceSubscription } from "@plexus/net/transport";
 *
 * const subscription: TraceSubscription = subscribe({ frame: () => {} });
 * subscription.unsubscribe();
 * subscription.unsubscribe(); // again: nothing happens
 * {
 *   using _ = subscribe({ connection: () => {} });
 * } // unsubscribed here
 * ```
 */
export interface TraceSubscription extends Disposable {
  /** Stops the handlers; calling it again does nothing. */
  unsubscribe(): void;
}

/**
 * Subscribes handlers to the trace channels. Handlers run synchronously where the event
 * happens, for every connection in the process; an error one throws is caught and logged
 * with `console.error`, never the connection's problem.
 *
 * @param handlers A handler per channel of interest.
 * @returns The subscription; dispose of it to unsubscribe.
 *
 * @example Collect the connections' names as they open
 * ```ts
 * import { createMemoryChannelPair, StreamTransport, subscribe } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const names: string[] = [];
 * const subscription = subscribe({
 *   connection: (e) => {
 *     if (e.event === "open") names.push(e.name);
 *   },
 * });
 * const [left, right] = createMemoryChannelPair();
 * const a = new StreamTransport(left, { dataReceived() {} }, { name: "left" });
 * const b = new StreamTransport(right, { dataReceived() {} }, { name: "right" });
 * subscription.unsubscribe();
 * a.close();
 * b.close();
 * await Promise.all([a.closed, b.closed]);
 * assertEquals(names, ["left", "right"]);
 * ```
 */
export function subscribe(handlers: TraceHandlers): TraceSubscription {
  const subscribed: [string, (message: unknown, name: string | symbol) => void][] = [];
  const add = (channel: string, handler: ((event: never) => void) | undefined): void => {
    if (handler === undefined) return;
    const listener = (message: unknown): void => {
      try {
        handler(message as never);
      } catch (error) {
        console.error(`The ${channel} trace subscriber failed:`, error);
      }
    };
    diagnosticsChannel.subscribe(channel, listener);
    subscribed.push([channel, listener]);
  };
  add(CONNECTION_CHANNEL, handlers.connection);
  add(FRAME_CHANNEL, handlers.frame);
  add(PACKET_CHANNEL, handlers.packet);
  const unsubscribe = (): void => {
    for (const [channel, listener] of subscribed.splice(0)) {
      diagnosticsChannel.unsubscribe(channel, listener);
    }
  };
  return { unsubscribe, [Symbol.dispose]: unsubscribe };
}

/**
 * Options of {@linkcode traceToConsole}.
 *
 * @example Frames with their bytes as tables
 * ```ts
 * import { traceToConsole, type TraceToConsoleOptions } from "@plexus/net/transport";
 *
 * const options: TraceToConsoleOptions = { hex: true };
 * using _ = traceToConsole(options);
 * ```
 */
export interface TraceToConsoleOptions {
  /**
   * Print each frame's bytes as a Netty `LoggingHandler` table ({@linkcode hexdump}) under its
   * line, rather than a short {@linkcode hexdumpLine} on it.
   *
   * @default {false}
   */
  hex?: boolean;
  /**
   * The most bytes of a frame shown; the rest are counted.
   *
   * @default {32 on the line, 256 in a table}
   */
  maxBytes?: number;
  /**
   * Which channels to print.
   *
   * @default {["connection", "frame", "packet"]}
   */
  channels?: readonly ("connection" | "frame" | "packet")[];
  /**
   * Where lines go.
   *
   * @default {console.log}
   */
  log?: (line: string) => void;
}

/**
 * A ready subscriber that prints every trace event, one line each (Netty `LoggingHandler`
 * style: `[name] EVENT: details`), with the frames' bytes as a hexdump:
 *
 * ```
 * [127.0.0.1:4000] OPEN
 * [127.0.0.1:4000] WRITE FRAME LineFramer: 7B 68 65 6c 6c 6f 0d 0a |hello..|
 * [127.0.0.1:4000] SEND PACKET: Packet(isRequest=true,channel=0,tag=2,rqType=1,flags=0x0,payload=6869)
 * [127.0.0.1:4000] READ FRAME LineFramer: 7B
 *          +-------------------------------------------------+
 *          |  0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f |
 * +--------+-------------------------------------------------+----------------+
 * |00000000| 68 65 6c 6c 6f 0d 0a                            |hello..         |
 * +--------+-------------------------------------------------+----------------+
 * [127.0.0.1:4000] CLOSE: peer-eof
 * ```
 *
 * @param options `hex` for tables, the channels, where lines go.
 * @returns The subscription; dispose of it to stop printing.
 * @throws {RangeError} When `maxBytes` is not a number >= 0.
 *
 * @example Print a framed exchange with hex tables
 * ```ts
 * import { FramedProtocol, LineFramer } from "@plexus/net/framing";
 * import { createMemoryChannelPair, StreamTransport, traceToConsole } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const lines: string[] = [];
 * using _ = traceToConsole({ hex: true, log: (line) => lines.push(line) });
 * const server = new FramedProtocol(new LineFramer(), { frameReceived: (_f, framed) => framed.close() });
 * const client = new FramedProtocol(new LineFramer(), {
 *   connectionMade: (framed) => framed.sendFrame(new TextEncoder().encode("hello")),
 *   frameReceived() {},
 * });
 * const [a, b] = createMemoryChannelPair();
 * new StreamTransport(a, server, { name: "server" });
 * new StreamTransport(b, client, { name: "client" });
 * await Promise.all([server.closed, client.closed]);
 * assertEquals(lines[2].split("\n")[0], "[client] WRITE FRAME LineFramer: 7B");
 * assertEquals(
 *   lines[2].split("\n")[4],
 *   "|00000000| 68 65 6c 6c 6f 0d 0a                            |hello..         |",
 * );
 * ```
 */
export function traceToConsole(options?: TraceToConsoleOptions): TraceSubscription {
  options ??= {};
  const log = options.log ?? ((line: string) => console.log(line));
  const hex = options.hex ?? false;
  const maxBytes = options.maxBytes ?? (hex ? 256 : 32);
  // Checked now: a bad one would throw inside the subscriber, once per frame.
  if (!(maxBytes >= 0)) {
    throw new RangeError(
      `Cannot trace to the console: maxBytes must be a number >= 0, got ${maxBytes}`,
    );
  }
  const channels = options.channels ?? ["connection", "frame", "packet"];
  const handlers: TraceHandlers = {};
  if (channels.includes("connection")) {
    handlers.connection = (e) => log(formatConnectionEvent(e));
  }
  if (channels.includes("frame")) {
    handlers.frame = (e) => log(formatFrameEvent(e, hex, maxBytes));
  }
  if (channels.includes("packet")) {
    handlers.packet = (e) =>
      log(`[${e.name}] ${e.direction === "send" ? "SEND" : "RECEIVE"} PACKET: ${e.text}`);
  }
  return subscribe(handlers);
}

function formatConnectionEvent(e: ConnectionTraceEvent): string {
  if (e.event === "open") return `[${e.name}] OPEN`;
  const error = e.error ? ` (${e.error.message})` : "";
  return `[${e.name}] CLOSE: ${e.reason ?? "close"}${error}`;
}

function formatFrameEvent(e: FrameTraceEvent, hex: boolean, maxBytes: number): string {
  const head = `[${e.name}] ${e.direction === "send" ? "WRITE" : "READ"} FRAME ${e.framer}: `;
  const bytes = e.bytes;
  if (bytes === undefined) return head + "(bytes unknown)";
  if (!hex) return head + hexdumpLine(bytes, { maxBytes });
  const table = hexdump(bytes, { maxBytes });
  return head + bytes.byteLength + "B" + (table ? "\n" + table : "");
}

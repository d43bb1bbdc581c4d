/**
 * The publishing side of the wire trace (see `trace.ts`): the channels, and the helpers every
 * layer calls once it has seen `channel.hasSubscribers`.
 *
 * @module
 */

import diagnosticsChannel from "node:diagnostics_channel";
import type { CloseReason } from "./stats.ts";
import { formatPeer } from "./callback_error.ts";
import {
  CONNECTION_CHANNEL,
  type ConnectionTraceEvent,
  FRAME_CHANNEL,
  type FrameTraceEvent,
  PACKET_CHANNEL,
  type TraceDirection,
} from "./trace.ts";
import type { BaseTransport } from "./types.ts";

/** The `plexus:connection` channel. */
export const connectionChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  CONNECTION_CHANNEL,
);
/** The `plexus:frame` channel. */
export const frameChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(FRAME_CHANNEL);
/** The `plexus:packet` channel. */
export const packetChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  PACKET_CHANNEL,
);

/** The name of a connection with no `name` option: the peer's `host:port` (or socket path). */
export function defaultTraceName(peer: Deno.Addr | undefined): string {
  return formatPeer(peer) ?? "unnamed";
}

/** A transport's name for trace events: its `name` fact. */
export function traceName(transport: BaseTransport): string {
  return transport.getExtraInfo("name") ?? "unnamed";
}

/** Publishes an `open` event; call only when `connectionChannel.hasSubscribers`. */
export function publishOpen(transport: BaseTransport): void {
  const event: ConnectionTraceEvent = { event: "open", name: traceName(transport), transport };
  connectionChannel.publish(event);
}

/** Publishes a `close` event; call only when `connectionChannel.hasSubscribers`. */
export function publishClose(
  transport: BaseTransport,
  reason: CloseReason | undefined,
  error: Error | undefined,
): void {
  const event: ConnectionTraceEvent = {
    event: "close",
    name: traceName(transport),
    transport,
    reason,
    error,
  };
  connectionChannel.publish(event);
}

/**
 * Publishes a frame event; call only when `frameChannel.hasSubscribers`. `framer` is named by
 * its class, or given as a name.
 */
export function publishFrame(
  transport: BaseTransport,
  direction: TraceDirection,
  frame: unknown,
  bytes: Uint8Array | undefined,
  framer: string | object,
): void {
  const event: FrameTraceEvent = {
    name: traceName(transport),
    transport,
    direction,
    frame,
    bytes,
    framer: typeof framer === "string" ? framer : framerName(framer) ?? "Object",
  };
  frameChannel.publish(event);
}

/**
 * A framer's class name, as trace events and decoding errors name it; `undefined` for one made
 * as a plain object (`{ encode, decode }`, or `Object.create(null)`, which has no `constructor`).
 */
export function framerName(framer: object): string | undefined {
  const name = (framer as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" && name !== "Object" ? name : undefined;
}

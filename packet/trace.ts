import type { Packet } from "./packet.ts";

/**
 * One packet seen by a connection's `trace` hook (the original's `trace_log`): which way it
 * went, the packet, and its text as the original prints packets.
 *
 * @example Log every packet
 * ```ts
 * import { PacketConnection, type PacketTraceEvent } from "@plexus/net/packet";
 *
 * const log: string[] = [];
 * const connection = new PacketConnection({
 *   name: "client",
 *   trace: (event: PacketTraceEvent) => log.push(`${event.connection} ${event.direction} ${event.text}`),
 * });
 * ```
 */
export interface PacketTraceEvent {
  /** The connection's `name`. */
  readonly connection: string;
  /** `"send"` for a packet queued to the peer, `"receive"` for one decoded from it. */
  readonly direction: "send" | "receive";
  /** The packet, its fields as on the wire. */
  readonly packet: Packet;
  /** The packet as text, as the original prints it (`Packet.toString()`). */
  readonly text: string;
}

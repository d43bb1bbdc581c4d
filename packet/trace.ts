import type { PacketTraceMessage } from "../transport/trace.ts";
import type { Transport } from "../transport/types.ts";
import type { Packet } from "./packet.ts";

/**
 * One packet sent or received by a `PacketConnection`, as published on the shared
 * `plexus:packet` trace channel (see `subscribe` in `@plexus/net/transport`) and given to the
 * connection's own `trace` option (the original's `trace_log`): the connection's name, which
 * way it went, the packet, and its text as the original prints packets.
 *
 * @example Log every packet of one connection
 * ```ts
 * import { PacketConnection, type PacketTraceEvent } from "@plexus/net/packet";
 *
 * const log: string[] = [];
 * const connection = new PacketConnection({
 *   name: "client",
 *   trace: (event: PacketTraceEvent) => log.push(`${event.name} ${event.direction} ${event.text}`),
 * });
 * ```
 *
 * @example Log every packet of every connection
 * ```ts
 * import { subscribe } from "@plexus/net/transport";
 *
 * using _ = subscribe({ packet: (e) => console.log(`${e.name} ${e.direction} ${e.text}`) });
 * ```
 */
export interface PacketTraceEvent extends PacketTraceMessage {
  /** The connection's name: its `name` option, else its transport's (the peer's `host:port`). */
  readonly name: string;
  /** The transport the connection runs on. */
  readonly transport: Transport;
  /** `"send"` for a packet queued to the peer, `"receive"` for one decoded from it. */
  readonly direction: "send" | "receive";
  /** The packet, its fields as on the wire; its own object, which may be kept. */
  readonly packet: Packet;
  /**
   * The packet as text, as the original prints it (`Packet.toString()`):
   * `Packet(isRequest=true,channel=0,tag=2,rqType=1,flags=0x0,payload=6869)`.
   */
  readonly text: string;
}

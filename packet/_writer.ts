/**
 * The send side of a packet connection: each packet is encoded from its fields straight into
 * the transport's one write buffer (`transport.out`) and committed (`transport.commit()`), so
 * flow control sees it at once and the transport sends everything committed in one turn in one
 * write. No `Packet` object is made, except for the trace: when the shared trace channels
 * have subscribers (`plexus:frame`, `plexus:packet`) or the connection has its own `trace`.
 *
 * With `packetGrace`, commits are held for that many milliseconds after the first held packet
 * (or until 64 KiB are held, or {@linkcode PacketWriter.flush}), so that packets of later turns
 * join the same write.
 *
 * @module
 */

import type { Transport } from "../transport/types.ts";
import { frameChannel, packetChannel, publishFrame } from "../transport/_trace.ts";
import { encodePacket } from "./_codec.ts";
import { Packet } from "./packet.ts";

/** What `plexus:frame` events name as the framer of packets sent. */
const PACKET_ENCODER = "PacketEncoder";

/** The most bytes `packetGrace` holds back before they are committed anyway. */
const GRACE_LIMIT = 64 * 1024;

/** Encodes packets into the transport's write buffer. */
export class PacketWriter {
  readonly #max: number;
  readonly #grace: number;
  #sink: Transport | undefined;
  /**
   * Bytes of whole packets in the transport's buffer, not yet committed: held by
   * `packetGrace`, or the packet being traced (a close or writeEof() from a trace callback
   * flushes it through the connection's write-ending hook).
   */
  #held = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #flushNow = (): void => {
    try {
      this.flush();
    } catch {
      // The transport takes no more writes (a writeEof() under the connection): a throw from
      // this timer would end the process.
    }
  };
  /** Called with each packet once encoded, when the packet is traced (see `traceAlways`). */
  trace: ((packet: Packet) => void) | undefined;
  /** Whether `trace` gets every packet (the connection's own `trace` option), subscribers or not. */
  traceAlways = false;

  /**
   * @param maxPacketSize The largest body that may be sent.
   * @param grace Milliseconds to hold the first uncommitted packet for others to join; 0
   * commits each packet at once (the transport still batches the turn's packets).
   */
  constructor(maxPacketSize: number, grace: number) {
    this.#max = maxPacketSize;
    this.#grace = grace;
  }

  /** Starts writing to `transport`. */
  attach(transport: Transport): void {
    this.#sink = transport;
  }

  /**
   * Sends a request. Fields are checked by the caller, except the size.
   *
   * @param rqType The user rq_type (sent as `rqType + 1`).
   * @throws {PacketTooLongError} When it exceeds `maxPacketSize` (nothing is sent).
   */
  request(tag: number, rqType: number, flags: number, channel: number, payload: Uint8Array): void {
    const sink = this.#sink;
    // A closing transport drops writes: nothing is encoded, traced or committed then.
    if (!sink || sink.isClosing()) return;
    const bits = flags * 4 + 2 + (channel !== 0 ? 1 : 0);
    const n = encodePacket(sink.out, this.#max, tag, bits, channel, rqType + 1, payload);
    this.#held += n;
    if (this.traceAlways || frameChannel.hasSubscribers || packetChannel.hasSubscribers) {
      this.#traceSent(sink, n, Packet.request(tag, rqType, { flags, payload, channel }));
    }
    this.#commit();
  }

  /**
   * Sends a response.
   *
   * @param flags The user flags (sent as `flags * 2 + ok`), checked by the caller.
   * @returns Whether it went out: `false` when the transport is closing (or gone) and drops it.
   * @throws {PacketTooLongError} When it exceeds `maxPacketSize` (nothing is sent).
   */
  response(tag: number, ok: boolean, flags: number, channel: number, payload: Uint8Array): boolean {
    const sink = this.#sink;
    if (!sink || sink.isClosing()) return false;
    const bits = (flags * 2 + (ok ? 1 : 0)) * 4 + (channel !== 0 ? 1 : 0);
    const n = encodePacket(sink.out, this.#max, tag, bits, channel, -1, payload);
    this.#held += n;
    if (this.traceAlways || frameChannel.hasSubscribers || packetChannel.hasSubscribers) {
      this.#traceSent(sink, n, Packet.response(tag, ok, { flags, payload, channel }));
    }
    this.#commit();
    return true;
  }

  /** Sends a packet made elsewhere (EOF, ERQ). */
  packet(packet: Packet): void {
    const sink = this.#sink;
    if (!sink || sink.isClosing()) return;
    const { tag, channel, isRequest, rqType, flags, payload } = packet;
    const bits = flags * 4 + (isRequest ? 2 : 0) + (channel !== 0 ? 1 : 0);
    const n = encodePacket(
      sink.out,
      this.#max,
      tag,
      bits,
      channel,
      isRequest ? rqType : -1,
      payload,
    );
    this.#held += n;
    if (this.traceAlways || frameChannel.hasSubscribers || packetChannel.hasSubscribers) {
      this.#traceSent(sink, n, packet);
    }
    this.#commit();
  }

  /** Publishes a packet just encoded (`n` bytes): its frame event, then its packet event. */
  #traceSent(sink: Transport, n: number, packet: Packet): void {
    if (frameChannel.hasSubscribers) {
      publishFrame(sink, "send", packet, sink.out.copyLast(n), PACKET_ENCODER);
    }
    if (this.traceAlways || packetChannel.hasSubscribers) this.trace?.(packet);
  }

  /** Commits what `packetGrace` holds now. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#held === 0 || !this.#sink) return;
    this.#held = 0;
    this.#sink.commit();
  }

  /** Writes nothing more (what is held is dropped with the transport). */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#sink = undefined;
    this.#held = 0;
  }

  /** Commits what is held, unless `packetGrace` holds it a while longer. */
  #commit(): void {
    if (this.#grace > 0 && this.#held < GRACE_LIMIT) {
      this.#timer ??= setTimeout(this.#flushNow, this.#grace);
      return;
    }
    this.flush();
  }
}

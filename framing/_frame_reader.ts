/**
 * The framed core: the one decode loop every framed reader runs on (`FramedProtocol`,
 * `MessageProtocol`, `PacketConnection`, `FrameDecoderStream`, `decodeFrames`).
 *
 * @module
 */

import type { DeadlineClock } from "../transport/deadline_clock.ts";
import { frameChannel, framerName, publishFrame } from "../transport/_trace.ts";
import type { BaseTransport, Transport } from "../transport/types.ts";
import { TransportError } from "../transport/errors.ts";
import { TruncatedFrameError } from "./errors.ts";
import type { Decoder } from "./framer.ts";
import { ReceiveBuffer, type ReceiveBufferOptions } from "./receive_buffer.ts";

/**
 * The key of a `FramedProtocol`'s method for an empty datagram (a UDP peer's): under the
 * identity framer it is one frame of no bytes, which no decoder can see in the byte stream.
 */
export const EMPTY_DATAGRAM: unique symbol = Symbol("plexus.emptyDatagram");

/**
 * Owns a connection's {@linkcode ReceiveBuffer} and its current {@linkcode Decoder}, and runs
 * the decode loop over them (tokio's `FramedImpl` read half).
 *
 * | call        | does                                                                      |
 * | ----------- | ------------------------------------------------------------------------- |
 * | `read()`    | decode + deliver until the decoder needs more bytes or `mayGoOn()` is false; one progress report to the deadline clock |
 * | `finish()`  | at end of stream: `decodeEof` + deliver until `undefined`; bytes left then are a {@linkcode TruncatedFrameError} |
 *
 * - `decoder` may be replaced at any time, also from inside `deliver`: the next frame is
 *   decoded by the new decoder from the byte right after the last frame.
 * - `mayGoOn()` is asked before each frame: a protocol that pauses or closes stops delivery
 *   there, and calls `read()` / `finish()` again to carry on.
 * - Errors (a decoder's `FramingError`, a throw from `deliver`) propagate to the caller; a
 *   decoder's is also kept in `decodeError`.
 *
 * @typeParam T The frame type.
 */
export class FrameReader<T> {
  /** The bytes received and not yet decoded. */
  readonly buffer: ReceiveBuffer;
  /** The decoder of the next frame. */
  decoder: Decoder<T>;
  /** The transport's frame deadlines, told of each read's progress. */
  clock: DeadlineClock | undefined;
  /** Frames decoded and delivered (or being delivered) so far. */
  frames = 0;
  /** The connection's transport, once connected: names the frames in trace events. */
  transport: BaseTransport | undefined;
  /**
   * The last error a decoder threw (`decode`, `decodeEof`, or the truncation check), so that
   * a caller tells the peer's bad bytes from a throw of its own `deliver`.
   */
  decodeError: unknown = undefined;
  /** Whether a read came over TLS yet (see {@linkcode FrameReader.received}). */
  #sawTls = false;
  readonly #deliver: (frame: T) => void;
  readonly #mayGoOn: () => boolean;

  /**
   * Creates the reader.
   *
   * @param decoder The first decoder.
   * @param deliver Called with each frame.
   * @param mayGoOn Asked before each frame whether delivery may go on.
   * @param options The receive buffer's options.
   */
  constructor(
    decoder: Decoder<T>,
    deliver: (frame: T) => void,
    mayGoOn?: () => boolean,
    options?: ReceiveBufferOptions,
  ) {
    this.decoder = decoder;
    this.#deliver = deliver;
    this.#mayGoOn = mayGoOn ?? always;
    this.buffer = new ReceiveBuffer(options);
  }

  /**
   * The transport read `n` bytes into the buffer's free tail: commits them. At the first read
   * over TLS, bytes still buffered came in plaintext before a STARTTLS upgrade, and must not be
   * joined with what arrives encrypted (CVE-2011-0411, STARTTLS command injection): the
   * transport is aborted instead.
   *
   * @param n The count read.
   * @param transport The transport that read them.
   * @returns `false` when the transport was aborted (nothing was committed).
   */
  received(n: number, transport: Transport | undefined): boolean {
    if (!this.plaintextGuard(transport)) return false;
    this.buffer.commit(n);
    return true;
  }

  /**
   * The STARTTLS guard alone, for a decoding pass that follows no read (one scheduled after
   * an upgrade): once the transport speaks TLS, bytes still buffered came in plaintext before
   * the upgrade, and the transport is aborted instead of their frames being delivered.
   *
   * @param transport The transport the bytes came from.
   * @returns `false` when the transport was aborted.
   */
  plaintextGuard(transport: Transport | undefined): boolean {
    if (
      !this.#sawTls && transport?.startTls !== undefined && transport.getExtraInfo("tls") === true
    ) {
      this.#sawTls = true;
      if (this.buffer.length > 0) {
        transport.abort(plaintextInjection());
        return false;
      }
    }
    return true;
  }

  /**
   * Decodes and delivers the buffered frames, then reports this read's progress to the
   * deadline clock (whether a frame completed, whether part of one is left).
   *
   * @returns `true` when the decoder needs more bytes; `false` when `mayGoOn()` stopped it.
   */
  read(): boolean {
    const buffer = this.buffer;
    const deliver = this.#deliver;
    const mayGoOn = this.#mayGoOn;
    let completed = false;
    let drained = false;
    // Traced reads take the slow loop; the plain one pays this one branch per read.
    if (frameChannel.hasSubscribers && this.transport !== undefined) return this.#readTraced();
    // Whether a throw comes from the decoder (the peer's bytes) or from `deliver`.
    let decoding = false;
    try {
      while (mayGoOn()) {
        decoding = true;
        const decoder = this.decoder;
        const frame = decoder.decode(buffer);
        decoding = false;
        if (frame === undefined) {
          drained = true;
          break;
        }
        // A piece of a frame still under way is not a completed frame (asked until one is).
        if (!completed) completed = decoder.frameUnderway?.() !== true;
        this.frames++;
        deliver(frame);
      }
    } catch (error) {
      if (decoding) this.decodeError = error;
      throw error;
    }
    this.#progress(completed, drained);
    return drained;
  }

  /**
   * At end of stream: decodes and delivers the last frames with `decodeEof` (or `decode`),
   * then checks that no bytes are left.
   *
   * @returns `true` when the stream is fully decoded; `false` when `mayGoOn()` stopped it.
   * @throws {TruncatedFrameError} When the stream ended inside a frame (the message names
   * the decoder's class: `Cannot decode frame (LineFramer): the stream ended with ...`).
   */
  finish(): boolean {
    const buffer = this.buffer;
    while (this.#mayGoOn()) {
      const decoder = this.decoder;
      const block = buffer.bytes;
      const start = buffer.start;
      let frame: T | undefined;
      try {
        frame = decoder.decodeEof ? decoder.decodeEof(buffer) : decoder.decode(buffer);
        if (frame === undefined && buffer.length > 0) {
          throw new TruncatedFrameError(buffer.length, truncatedContext(decoder));
        }
      } catch (error) {
        throw this.decodeError = error;
      }
      if (frame === undefined) return true;
      this.frames++;
      if (frameChannel.hasSubscribers && this.transport !== undefined) {
        this.#trace(frame, decoder, block, start);
      }
      this.#deliver(frame);
    }
    return false;
  }

  /**
   * A record of no bytes from a message transport (an empty datagram) that is one frame: it
   * adds no byte to the buffer, so no decoder can see it, and the caller makes its `frame`.
   * Delivered as `read()` delivers a frame: counted, traced, given to `deliver` (unless
   * `mayGoOn()` says no: then it is dropped, as nothing is buffered to wait for).
   *
   * @param frame The empty record's frame.
   * @param bytes Its bytes (none), for the trace event.
   */
  readEmpty(frame: T, bytes: Uint8Array): void {
    if (!this.#mayGoOn()) return;
    this.frames++;
    if (frameChannel.hasSubscribers && this.transport !== undefined) {
      publishFrame(this.transport, "receive", frame, bytes, this.decoder);
    }
    this.#deliver(frame);
    this.#progress(true, true);
  }

  /** {@linkcode FrameReader.read} with a frame event published before each delivery. */
  #readTraced(): boolean {
    const buffer = this.buffer;
    let completed = false;
    let drained = false;
    while (this.#mayGoOn()) {
      const decoder = this.decoder;
      const block = buffer.bytes;
      const start = buffer.start;
      let frame: T | undefined;
      try {
        frame = decoder.decode(buffer);
      } catch (error) {
        throw this.decodeError = error;
      }
      if (frame === undefined) {
        drained = true;
        break;
      }
      if (!completed) completed = decoder.frameUnderway?.() !== true;
      this.frames++;
      this.#trace(frame, decoder, block, start);
      this.#deliver(frame);
    }
    this.#progress(completed, drained);
    return drained;
  }

  /**
   * Reports a read's progress to the deadline clock: whether a frame completed, and whether
   * one is under way. Bytes held back by `mayGoOn()` (a full queue, a pause) wait on the
   * application: only bytes the decoder waits on are a frame under way.
   */
  #progress(completed: boolean, drained: boolean): void {
    this.clock?.progress(
      completed,
      drained && (this.buffer.length > 0 || this.decoder.frameUnderway?.() === true),
    );
  }

  /** Publishes a received frame with its bytes: what the decoder consumed from `start`. */
  #trace(frame: T, decoder: Decoder<T>, block: Uint8Array, start: number): void {
    const buffer = this.buffer;
    // A decoder that made the buffer move its bytes leaves the frame's bytes unknown. A copy:
    // a decoder that only skipped bytes (COBS, stuffing, an empty packet) leaves them to be
    // written over by a later read.
    const bytes = buffer.bytes === block && buffer.start >= start
      ? block.slice(start, buffer.start)
      : undefined;
    publishFrame(this.transport!, "receive", frame, bytes, decoder);
  }
}

/**
 * What a truncation error at end of stream says failed, naming the decoder by its class
 * (`Cannot decode frame (LineFramer)`), as trace events name it; a plain-object decoder has
 * no name to give.
 */
function truncatedContext(decoder: object): string {
  const name = framerName(decoder);
  return name ? `Cannot decode frame (${name})` : "Cannot decode frame";
}

/**
 * The error a connection is aborted with when bytes that came in plaintext before a STARTTLS
 * upgrade would be handled as if they came over TLS (CVE-2011-0411, STARTTLS command injection).
 */
export function plaintextInjection(): TransportError {
  return new TransportError("Plaintext received after STARTTLS, before the TLS handshake");
}

function always(): boolean {
  return true;
}

/**
 * The read side of tinyproto as a {@linkcode Decoder}: it cuts the peer's stream into
 * tinyproto events, so `TinyprotoProtocol` runs on the framed core (`FrameReader`).
 *
 * @module
 */

import { TransportError } from "../transport/errors.ts";
import { CorruptFrameError, TruncatedFrameError } from "./errors.ts";
import type { Decoder } from "./framer.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";

const OK = 0xff;
const REFUSED = 0x00;

/** Status bytes a tinyproto server may send instead of the `ff` handshake, then close. */
export const HANDSHAKE_STATUS: Readonly<Record<number, string>> = {
  0x00: "00: refused",
  0xfd: "fd: conflict",
  0xfe: "fe: connection limit reached",
};

/** One event of the peer's tinyproto stream; a payload is the event of its own bytes. */
export type TinyprotoEvent =
  /** The peer's `ff` handshake. */
  | { readonly type: "handshake" }
  /** The peer sent a status byte (`HANDSHAKE_STATUS`) instead of the handshake. */
  | { readonly type: "turnedAway"; readonly status: number }
  /** The peer's answer to our announcement: `ff` (go on) or `00` (refused). */
  | { readonly type: "answer"; readonly accepted: boolean }
  /**
   * The peer announces a message of `size` bytes. Up to `maxSize`, it awaits our answer
   * ({@linkcode TinyprotoDecoder.accept}); over it, the protocol refuses it.
   */
  | { readonly type: "announce"; readonly size: number }
  /** The payload of an announcement we accepted. */
  | Uint8Array;

const HANDSHAKE: TinyprotoEvent = Object.freeze({ type: "handshake" });
const ACCEPTED: TinyprotoEvent = Object.freeze({ type: "answer", accepted: true });
const REFUSAL: TinyprotoEvent = Object.freeze({ type: "answer", accepted: false });

/**
 * What the peer owes us next, in the order of our own output: the answer to our
 * announcement, or the payload of its announcement that we accepted.
 */
type Owed = "status" | number;

/**
 * Decodes the peer's tinyproto stream (see the table in `TinyprotoProtocol`'s docs). Its state
 * is the queue of what the peer owes us, and the peer's announcement we owe an answer:
 * {@linkcode TinyprotoDecoder.announced} queues the answer to our announcement; an
 * announcement up to `maxSize` awaits our answer until the protocol writes `ff` and calls
 * {@linkcode TinyprotoDecoder.accept}, which queues its payload (`1..maxSize` bytes). Until
 * then the peer, whose message is in flight, sends nothing but answers to ours: anything else
 * is a {@linkcode CorruptFrameError}, so a peer cannot push more than it was let. An
 * announcement over `maxSize` is returned for the protocol to refuse; a refusal is final, so
 * the protocol then replaces this decoder (nothing more is decoded).
 *
 * At end of stream, {@linkcode TinyprotoDecoder.decodeEof} tells a lone `00` (a refusal) from
 * the start of a crossing size, and raises what a cut means: a {@linkcode TruncatedFrameError}
 * inside a size or payload, a {@linkcode TransportError} when the peer closed before the
 * handshake or before answering our announcement.
 */
export class TinyprotoDecoder implements Decoder<TinyprotoEvent> {
  /** Whether the peer's handshake was read. */
  started = false;
  readonly #owed: Owed[] = [];
  /**
   * The size the peer announced that we have not answered yet (the protocol holds our `ff`
   * while its inbox is full), or `undefined` when no announcement awaits our answer.
   */
  #unanswered: number | undefined;
  /**
   * Whether the peer announced since our announcement that awaits its answer: it crossed ours,
   * so the peer answers ours next (our `ff` to its size follows our size on the wire). Only an
   * empty message needs it: any other leaves its payload owed after our answer, which shows it.
   */
  #crossed = false;
  readonly #maxSize: number;
  /** The last error `decodeEof` raised: how the protocol tells an end from a handler throw. */
  eofError: Error | undefined;

  /**
   * Creates the decoder.
   *
   * @param maxSize The largest announcement accepted (its payload is then owed).
   */
  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  /** We announced a message: the peer owes its answer. */
  announced(): void {
    this.#owed.push("status");
  }

  /**
   * We answered the peer's announcement with `ff`: its payload (if any) is owed now.
   *
   * @returns The announced size.
   */
  accept(): number {
    const size = this.#unanswered!;
    this.#unanswered = undefined;
    if (size > 0) this.#owed.push(size);
    return size;
  }

  /** Whether the peer's announcement awaits our answer. */
  awaitingAnswer(): boolean {
    return this.#unanswered !== undefined;
  }

  /**
   * Whether a payload is owed: a frame under way even with no bytes buffered (its size was
   * consumed as an event of its own).
   */
  frameUnderway(): boolean {
    return typeof this.#owed[0] === "number";
  }

  decode(buffer: ReceiveBuffer): TinyprotoEvent | undefined {
    const first = buffer.at(0);
    if (!this.started) {
      if (first === undefined) return undefined;
      buffer.skip(1);
      if (first === OK) {
        this.started = true;
        return HANDSHAKE;
      }
      if (HANDSHAKE_STATUS[first] === undefined) {
        throw new CorruptFrameError(
          `Cannot start tinyproto: expected the ff handshake, got ${hex(first)}`,
        );
      }
      return { type: "turnedAway", status: first };
    }
    const owed = this.#owed[0];
    if (typeof owed === "number") {
      if (buffer.length < owed) {
        buffer.reserve(owed);
        return undefined;
      }
      this.#owed.shift();
      return buffer.take(owed);
    }
    if (first === undefined) return undefined;
    if (owed === undefined && first === OK) {
      throw new CorruptFrameError(
        "Cannot receive transmission: got ff, an answer, but no announcement of ours awaits one",
      );
    }
    if (owed === undefined && this.#unanswered !== undefined) {
      throw new CorruptFrameError(
        `Cannot receive transmission: got ${hex(first)} before we answered the peer's announcement`,
      );
    }
    if (owed === "status") {
      // Busy: it announced since ours (its payload is owed after this answer, or its
      // announcement awaits ours, or it was empty), so this byte is its answer.
      const peerBusy = this.#owed.length > 1 || this.#unanswered !== undefined || this.#crossed;
      if (first === OK) {
        buffer.skip(1);
        this.#owed.shift();
        this.#crossed = false;
        return ACCEPTED;
      }
      if (first === REFUSED && peerBusy) {
        buffer.skip(1);
        this.#owed.shift();
        this.#crossed = false;
        return REFUSAL;
      }
      if (peerBusy) {
        throw new CorruptFrameError(
          `Cannot send transmission: expected ff or 00 as the answer, got ${hex(first)}`,
        );
      }
      // A 00 alone may still be a refusal: wait for the next byte or end of stream.
      if (first === REFUSED && buffer.length === 1) return undefined;
    }
    // The peer announces a message.
    if (buffer.length < 4) return undefined;
    const size = first * 2 ** 24 + ((buffer.at(1)! << 16) | (buffer.at(2)! << 8) | buffer.at(3)!);
    buffer.skip(4);
    if (owed === "status") this.#crossed = true;
    if (size <= this.#maxSize) this.#unanswered = size;
    return { type: "announce", size };
  }

  /**
   * At end of stream: a lone `00` owed as our answer is a refusal; otherwise what `decode`
   * gives, and when it needs more bytes, the error of the cut (none after an orderly end).
   */
  decodeEof(buffer: ReceiveBuffer): TinyprotoEvent | undefined {
    if (
      this.started && this.#owed.length === 1 && this.#owed[0] === "status" &&
      buffer.length === 1 && buffer.at(0) === REFUSED
    ) {
      buffer.skip(1);
      this.#owed.shift();
      this.#crossed = false;
      return REFUSAL;
    }
    const event = this.decode(buffer);
    if (event !== undefined) return event;
    const error = this.endError(buffer);
    if (error === undefined) return undefined;
    this.eofError = error;
    throw error;
  }

  /** Why a stream that ends here is cut short, if it is (no more bytes will come). */
  endError(buffer: ReceiveBuffer): Error | undefined {
    const left = buffer.length;
    // Inside a message: its payload, or our answer to its size, is still to come.
    const owed = this.#owed[0];
    const inside = typeof owed === "number" ? owed : this.#unanswered;
    if (left > 0 || inside !== undefined) {
      return new TruncatedFrameError(
        left,
        inside !== undefined
          ? `Cannot receive transmission of ${inside} bytes`
          : "Cannot receive transmission",
      );
    }
    if (!this.started) {
      return new TransportError("Cannot start tinyproto: the peer closed before the handshake");
    }
    if (owed === "status") {
      return new TransportError("Cannot send transmission: the peer closed before answering");
    }
    return undefined;
  }
}

/** The decoder of a tinyproto connection that is ending: what still arrives is dropped. */
export const DISCARD: Decoder<TinyprotoEvent> = {
  decode(buffer: ReceiveBuffer): undefined {
    buffer.skip(buffer.length);
    return undefined;
  },
};

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}

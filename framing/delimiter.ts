import { CorruptFrameError, FrameTooLongError } from "./errors.ts";
import type { Framer } from "./framer.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";
import { checkLimit, toBytes } from "./_bytes.ts";

/** Options of a {@linkcode DelimiterFramer}. */
export interface DelimiterFramerOptions {
  /**
   * The delimiters, as bytes or UTF-8 text. Decoding ends a frame at the first place where one
   * of them starts, taking the longest that matches there; encoding appends the first.
   */
  delimiters: readonly (Uint8Array | string)[];
  /**
   * The longest frame accepted or sent, in bytes, not counting the delimiter.
   *
   * @default {65536}
   */
  maxFrameLength?: number;
  /**
   * Whether decoded frames lose their delimiter.
   *
   * @default {true}
   */
  stripDelimiter?: boolean;
}

/** {@linkcode DelimiterFramer}'s scan found no delimiter start before its limit. */
const NONE = -1;
/** The scan stopped at a delimiter that the next bytes may still complete. */
const WAIT = -2;

/**
 * Frames ended by a delimiter, or by one of several (after Netty's
 * `DelimiterBasedFrameDecoder`).
 *
 * ```
 *  delimiters ["\r\n", "\n"]
 *  BEFORE DECODE (12 bytes)            AFTER DECODE
 *  +---------------------+            +-----+ +-----+
 *  | ABC\nDEF\r\nGH      |   ----->   | ABC | | DEF |    "GH" stays buffered
 *  +---------------------+            +-----+ +-----+
 * ```
 *
 * **Which delimiter ends a frame.** The frame ends where the first delimiter starts (the
 * shortest frame wins, as in Netty); when several delimiters start there, the longest one that
 * matches is the delimiter (Netty would take the one listed first). So with `["\r", "\r\n"]`,
 * `"a\r\nb\r\n"` is `a`, `b`, and with `["xay", "a"]`, `"12xay3a"` is `12`, `3`.
 *
 * **Split independence.** The frames never depend on how the input arrives: a delimiter is
 * accepted only once no other delimiter can still match at or before it. When the buffered
 * bytes end inside a possible longer or earlier delimiter (`"a\r"` with `["\r", "\r\n"]`),
 * decoding waits for the next byte; at end of stream ({@linkcode DelimiterFramer.decodeEof})
 * the match in hand is taken.
 *
 * **Cost.** One pass over the bytes for all delimiters together (a table of their first
 * bytes), resumed where the previous call stopped, so each byte of a frame is examined about
 * once however it is split, and never more than `maxFrameLength` plus the longest delimiter
 * bytes are examined for a frame.
 *
 * **Limits.** Decoding returns `undefined` until a delimiter is buffered, and throws
 * {@linkcode FrameTooLongError} as soon as no delimiter can start within `maxFrameLength`
 * bytes. At end of stream, bytes after the last delimiter are a truncated frame. Frames are
 * views into the receive buffer.
 *
 * **Encoding** appends the first delimiter and refuses a frame that would not decode back as
 * itself (it holds a delimiter, or its end and the delimiter form an earlier one). It throws
 * `RangeError` when the first delimiter is part of a longer delimiter that extends past it (a
 * proper prefix of another, as `"\r"` of `"\r\n"`): the next frame's first bytes could then
 * change where this one ends.
 *
 * @example Split on either of two delimiters
 * ```ts
 * import { decodeFrames, DelimiterFramer, encodeFrame } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const framer = new DelimiterFramer({ delimiters: ["||", ";"] });
 * const frames = decodeFrames(framer, new TextEncoder().encode("a||b;c;"));
 * assertEquals(frames.map((f) => new TextDecoder().decode(f)), ["a", "b", "c"]);
 * assertEquals(encodeFrame(framer, new TextEncoder().encode("d")), new TextEncoder().encode("d||"));
 * ```
 *
 * @example A delimiter that is a prefix of another waits for the next byte
 * ```ts
 * import { DelimiterFramer, ReceiveBuffer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const framer = new DelimiterFramer({ delimiters: ["\r", "\r\n"] });
 * const buffer = new ReceiveBuffer();
 * buffer.append(new TextEncoder().encode("a\r"));
 * assertEquals(framer.decode(buffer), undefined); // "\r" or the start of "\r\n"?
 * buffer.append(new TextEncoder().encode("\nb"));
 * assertEquals(framer.decode(buffer), new TextEncoder().encode("a"));
 * assertEquals(buffer.length, 1); // "b"
 * ```
 */
export class DelimiterFramer implements Framer<Uint8Array> {
  readonly #delimiters: Uint8Array[];
  /** For each byte value: 0, or 1 + the index in #groups of the delimiters starting with it. */
  readonly #table = new Uint8Array(256);
  /** The delimiters grouped by first byte, longest first. */
  readonly #groups: Uint8Array[][] = [];
  /** The first byte of every delimiter when they all share one, else -1. */
  readonly #singleFirst: number;
  readonly #maxFrameLength: number;
  readonly #strip: boolean;
  /** Why encoding is refused, if the first delimiter extends into another. */
  readonly #encodeConflict: string | undefined;
  /** The buffer of the last unfinished scan, and the stream offset it got to. */
  #scanBuffer: ReceiveBuffer | undefined;
  #scanned = 0;
  /** Results of the last #scan: the delimiter length of a match, the place it stopped. */
  #matchLength = 0;
  #stop = 0;
  #sawPartial = false;

  /**
   * Creates a delimiter framer.
   *
   * @param options The delimiters, the limit and stripping.
   * @throws {RangeError} When there is no delimiter, one is empty, or the limit is invalid.
   */
  constructor(options: DelimiterFramerOptions) {
    this.#delimiters = options.delimiters.map(toBytes);
    if (this.#delimiters.length === 0 || this.#delimiters.some((d) => d.byteLength === 0)) {
      throw new RangeError("Cannot create delimiter framer: need at least one non-empty delimiter");
    }
    this.#maxFrameLength = checkLimit("maxFrameLength", options.maxFrameLength ?? 64 * 1024);
    this.#strip = options.stripDelimiter ?? true;
    for (const delimiter of this.#delimiters) {
      const first = delimiter[0];
      if (this.#table[first] === 0) {
        this.#groups.push([]);
        this.#table[first] = this.#groups.length;
      }
      this.#groups[this.#table[first] - 1].push(delimiter);
    }
    for (const group of this.#groups) group.sort((a, b) => b.byteLength - a.byteLength);
    this.#singleFirst = this.#groups.length === 1 ? this.#delimiters[0][0] : -1;
    this.#encodeConflict = encodeConflict(this.#delimiters);
  }

  /**
   * Decodes the next frame.
   *
   * @param buffer The receive buffer.
   * @returns The frame, or `undefined` when more bytes are needed.
   * @throws {FrameTooLongError} When no delimiter can start within `maxFrameLength` bytes.
   */
  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    return this.#decode(buffer, false);
  }

  /**
   * Decodes a frame at end of stream: as {@linkcode DelimiterFramer.decode}, but a delimiter
   * that more bytes could have extended is taken as it is.
   *
   * @param buffer The receive buffer.
   * @returns The frame, or `undefined` when no delimiter is buffered.
   * @throws {FrameTooLongError} When no delimiter can start within `maxFrameLength` bytes.
   */
  decodeEof(buffer: ReceiveBuffer): Uint8Array | undefined {
    return this.#decode(buffer, true);
  }

  #decode(buffer: ReceiveBuffer, eof: boolean): Uint8Array | undefined {
    const { bytes, start, end } = buffer;
    const position = buffer.position;
    // Resume the last scan: positions before #scanned hold no delimiter start (that depends
    // only on the bytes, so it stays true whichever framer consumed bytes since).
    const from = this.#scanBuffer === buffer && this.#scanned > position
      ? start + (this.#scanned - position)
      : start;
    const limit = Math.min(end, start + this.#maxFrameLength + 1);
    const found = this.#scan(bytes, from, limit, end, eof, buffer);
    if (found >= 0) {
      this.#scanBuffer = undefined;
      const frameLength = found - start;
      const delimiterLength = this.#matchLength;
      if (!this.#strip) return buffer.take(frameLength + delimiterLength);
      const frame = buffer.take(frameLength);
      buffer.skip(delimiterLength);
      return frame;
    }
    this.#scanBuffer = buffer;
    this.#scanned = position + (this.#stop - start);
    if (found === NONE && limit - start > this.#maxFrameLength && !this.#sawPartial) {
      // Name the frame's length when its delimiter is already buffered, else the bytes so far.
      const late = this.#scan(bytes, limit, end, end, true);
      const length = (late >= 0 ? late : end) - start;
      throw new FrameTooLongError("Cannot decode frame", length, this.#maxFrameLength);
    }
    return undefined;
  }

  /**
   * Finds the first delimiter starting in `bytes[from..limit)` (reading up to `end`), the
   * longest at that place. Returns its index (its length in #matchLength), NONE, or WAIT when
   * a delimiter starting at #stop runs into `end` and more bytes could complete it (never at
   * `eof`). On NONE, #stop is `limit`.
   */
  #scan(
    bytes: Uint8Array,
    from: number,
    limit: number,
    end: number,
    eof: boolean,
    buffer?: ReceiveBuffer,
  ): number {
    const table = this.#table;
    const groups = this.#groups;
    const single = this.#singleFirst;
    this.#sawPartial = false;
    let i = from;
    for (;;) {
      if (single >= 0 && buffer !== undefined) {
        // One first byte for all delimiters: let the native search skip to it.
        const at = buffer.indexOf(single, i - buffer.start);
        i = at < 0 ? limit : buffer.start + at;
      } else {
        while (i < limit && table[bytes[i]] === 0) i++;
      }
      if (i >= limit) break;
      const group = groups[table[bytes[i]] - 1];
      const available = end - i;
      for (let k = 0; k < group.length; k++) {
        const delimiter = group[k];
        const n = delimiter.byteLength;
        const m = n < available ? n : available;
        let j = 1;
        while (j < m && bytes[i + j] === delimiter[j]) j++;
        if (j === n) {
          this.#matchLength = n;
          return i;
        }
        if (j === available) {
          // The bytes end inside this (longer) delimiter.
          if (!eof) {
            this.#stop = i;
            return WAIT;
          }
          this.#sawPartial = true;
        }
      }
      i++;
    }
    this.#stop = limit;
    return NONE;
  }

  /**
   * Writes `frame` and the first delimiter.
   *
   * @param frame The frame.
   * @param out Where the bytes go.
   * @throws {CorruptFrameError} When `frame` would not decode as itself: it contains a
   * delimiter, or its last bytes and the first delimiter form an earlier one.
   * @throws {FrameTooLongError} When `frame` is longer than `maxFrameLength`.
   * @throws {RangeError} When the first delimiter is part of a longer one that extends past it.
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    if (this.#encodeConflict) throw new RangeError(this.#encodeConflict);
    const n = frame.byteLength;
    if (n > this.#maxFrameLength) {
      throw new FrameTooLongError("Cannot encode frame", n, this.#maxFrameLength);
    }
    const delimiter = this.#delimiters[0];
    const total = n + delimiter.byteLength;
    const at = out.reserve(total);
    const bytes = out.bytes;
    bytes.set(frame, at);
    bytes.set(delimiter, at + n);
    // Decode what we wrote, as a whole stream: the first delimiter must be ours.
    const found = this.#scan(bytes, at, at + total, at + total, true);
    if (found !== at + n || this.#matchLength !== delimiter.byteLength) {
      throw new CorruptFrameError(
        `Cannot encode frame: it contains a delimiter at offset ${found - at}`,
      );
    }
    out.advance(total);
  }
}

/**
 * Why the first delimiter cannot be used to encode: another delimiter holds it and goes on
 * past its end, so the bytes of the next frame could complete that one instead.
 */
function encodeConflict(delimiters: Uint8Array[]): string | undefined {
  const first = delimiters[0];
  const n = first.byteLength;
  for (const other of delimiters) {
    for (let k = 0; k + n < other.byteLength; k++) {
      let j = 0;
      while (j < n && other[k + j] === first[j]) j++;
      if (j === n) {
        return `Cannot encode frame: the first delimiter ${show(first)} is part of the longer ` +
          `delimiter ${show(other)}, so the next frame could extend it; list a delimiter first ` +
          "that no other delimiter contains";
      }
    }
  }
  return undefined;
}

function show(bytes: Uint8Array): string {
  return JSON.stringify(new TextDecoder().decode(bytes));
}

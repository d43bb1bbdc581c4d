/**
 * COBS codecs: plain COBS and zero-pair elimination as Tendril encodes them, and COBS/R as the
 * `cobs` Python package does. The delimiter (`00`) is handled by the framer, not here.
 *
 * Codes, per variant:
 *
 * | variant | code          | block                                                        |
 * | ------- | ------------- | ------------------------------------------------------------ |
 * | plain   | `01`..`fe`    | code-1 data bytes, then a zero                               |
 * | plain   | `ff`          | 254 data bytes, no zero                                      |
 * | zpe     | `01`..`df`    | code-1 data bytes, then a zero                               |
 * | zpe     | `e0`          | 223 data bytes, no zero                                      |
 * | zpe     | `e1`..`ff`    | code-e1 data bytes (at most 30), then two zeros              |
 * | cobsr   | as plain      | but the last code may be the last data byte itself           |
 *
 * Plain and zpe end every frame with one implied zero, dropped on decoding.
 *
 * @module
 */

import { CorruptFrameError } from "./errors.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";

/** A COBS variant. */
export type CobsVariant = "cobs" | "zpe" | "cobsr";

/** The most bytes `n` data bytes take when encoded, code bytes included (not the delimiter). */
export function maxEncodedLength(n: number): number {
  return n + Math.floor(n / 223) + 2;
}

/** Writes the encoding of `frame` (without the delimiter) into `out`. */
export function encodeCobs(frame: Uint8Array, out: SendBuffer, variant: CobsVariant): void {
  const n = frame.byteLength;
  const at = out.reserve(maxEncodedLength(n));
  const bytes = out.bytes;
  let w: number;
  if (variant === "zpe") w = encodeZpe(frame, bytes, at);
  else if (variant === "cobsr") w = encodeCobsr(frame, bytes, at);
  else w = encodePlain(frame, bytes, at);
  out.advance(w - at);
}

function encodePlain(frame: Uint8Array, out: Uint8Array, at: number): number {
  let code = at;
  let w = at + 1;
  let run = 0;
  for (let i = 0; i < frame.byteLength; i++) {
    const b = frame[i];
    if (b === 0) {
      out[code] = run + 1;
      code = w++;
      run = 0;
    } else {
      out[w++] = b;
      if (++run === 254) {
        out[code] = 0xff;
        code = w++;
        run = 0;
      }
    }
  }
  out[code] = run + 1;
  return w;
}

function encodeZpe(frame: Uint8Array, out: Uint8Array, at: number): number {
  const n = frame.byteLength;
  let w = at;
  let start = 0;
  for (;;) {
    const zero = frame.indexOf(0, start);
    const end = zero < 0 ? n : zero;
    while (end - start >= 223) {
      out[w++] = 0xe0;
      out.set(frame.subarray(start, start + 223), w);
      w += 223;
      start += 223;
    }
    const length = end - start;
    // A short block followed by an empty block (a zero pair) takes one code.
    const pair = zero >= 0 && (zero + 1 === n || frame[zero + 1] === 0) && length <= 30;
    out[w++] = pair ? 0xe1 + length : length + 1;
    out.set(frame.subarray(start, end), w);
    w += length;
    if (zero < 0) return w;
    if (pair) {
      if (zero + 1 === n) return w; // the empty block was the last one
      start = zero + 2;
    } else {
      start = zero + 1;
    }
  }
}

function encodeCobsr(frame: Uint8Array, out: Uint8Array, at: number): number {
  const n = frame.byteLength;
  let w = at;
  let start = 0;
  for (let i = 0; i < n; i++) {
    if (i - start === 0xfe) {
      out[w++] = 0xff;
      out.set(frame.subarray(start, i), w);
      w += i - start;
      start = i;
    }
    if (frame[i] === 0) {
      out[w++] = i - start + 1;
      out.set(frame.subarray(start, i), w);
      w += i - start;
      start = i + 1;
    }
  }
  const last = n > 0 ? frame[n - 1] : 0;
  const code = n - start + 1;
  if (last < code) {
    out[w++] = code;
    out.set(frame.subarray(start, n), w);
    w += n - start;
  } else {
    // COBS/R: the last data byte doubles as the code, saving a byte.
    out[w++] = last;
    out.set(frame.subarray(start, n - 1), w);
    w += n - 1 - start;
  }
  return w;
}

/**
 * Decodes `bytes[start..end)` (no zero among them) into `target`, or only measures it when
 * `target` is undefined.
 *
 * @returns The decoded length.
 */
export function decodeCobs(
  bytes: Uint8Array,
  start: number,
  end: number,
  variant: CobsVariant,
  target?: Uint8Array,
): number {
  if (variant === "cobsr") return decodeCobsr(bytes, start, end, target);
  const runCode = variant === "zpe" ? 0xe0 : 0xff;
  let i = start;
  let w = 0;
  let zeros = 0;
  while (i < end) {
    const code = bytes[i++];
    let n: number;
    if (code === runCode) {
      n = code - 1;
      zeros = 0;
    } else if (code < runCode) {
      n = code - 1;
      zeros = 1;
    } else {
      n = code - 0xe1;
      zeros = 2;
    }
    if (i + n > end) overrun(code, i - 1 - start, n, end - i);
    if (target) target.set(bytes.subarray(i, i + n), w);
    i += n;
    w += n + zeros; // the target is zero-filled: zeros need no writing
  }
  return zeros > 0 ? w - 1 : w;
}

function decodeCobsr(bytes: Uint8Array, start: number, end: number, target?: Uint8Array): number {
  let i = start;
  let w = 0;
  while (i < end) {
    const code = bytes[i++];
    const blockEnd = i + code - 1;
    if (blockEnd > end) {
      // The code ran past the end: it is the last data byte itself.
      if (target) {
        target.set(bytes.subarray(i, end), w);
        target[w + end - i] = code;
      }
      return w + end - i + 1;
    }
    if (target) target.set(bytes.subarray(i, blockEnd), w);
    w += code - 1;
    i = blockEnd;
    if (i < end && code < 0xff) w++;
  }
  return w;
}

function overrun(code: number, offset: number, n: number, left: number): never {
  throw new CorruptFrameError(
    `Cannot decode COBS frame: code 0x${
      code.toString(16).padStart(2, "0")
    } at offset ${offset} needs ${n} bytes, only ${left} left`,
  );
}

/**
 * Hexdumps of bytes for traces and debugging: Netty `LoggingHandler`'s table, and a compact
 * one-line form.
 *
 * @module
 */

/** Two lowercase hex digits for every byte value, made once. */
const HEX: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => (i < 16 ? "0" : "") + i.toString(16),
);

/** The ASCII column's character for every byte value: printable ASCII as is, else `.`. */
const ASCII: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => i >= 0x20 && i < 0x7f ? String.fromCharCode(i) : ".",
);

const HEADER = "         +-------------------------------------------------+\n" +
  "         |  0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f |\n" +
  "+--------+-------------------------------------------------+----------------+";
const FOOTER = "+--------+-------------------------------------------------+----------------+";

/** Options of {@linkcode hexdump} and {@linkcode hexdumpLine}. */
export interface HexdumpOptions {
  /**
   * The most bytes shown; the rest are counted in a last line (`... 4096 more bytes`), so a
   * large frame cannot flood a log.
   *
   * @default {Infinity for `hexdump`, 32 for `hexdumpLine`}
   */
  maxBytes?: number;
}

/**
 * Formats bytes as Netty's `LoggingHandler` does: a table of 16 bytes a row with the offset,
 * the bytes in hex and an ASCII column (printable ASCII, else `.`).
 *
 * ```
 *          +-------------------------------------------------+
 *          |  0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f |
 * +--------+-------------------------------------------------+----------------+
 * |00000000| 68 65 6c 6c 6f 0d 0a                            |hello..         |
 * +--------+-------------------------------------------------+----------------+
 * ```
 *
 * Nothing is allocated but the output string: the hex and ASCII forms of every byte value
 * are made once, when the module loads. Empty input gives the empty string.
 *
 * @param data The bytes.
 * @param options The most bytes to show.
 * @returns The table, lines separated by `\n`, without a final newline.
 *
 * @example Dump a line
 * ```ts
 * import { hexdump } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const table = hexdump(new TextEncoder().encode("hello\r\n"));
 * assertEquals(
 *   table.split("\n")[3],
 *   "|00000000| 68 65 6c 6c 6f 0d 0a                            |hello..         |",
 * );
 * ```
 */
export function hexdump(data: Uint8Array, options?: HexdumpOptions): string {
  const length = data.byteLength;
  if (length === 0) return "";
  const shown = Math.min(length, limit(options?.maxBytes, Infinity));
  let out = HEADER;
  for (let row = 0; row < shown; row += 16) {
    const end = Math.min(row + 16, shown);
    out += "\n|" + offset(row) + "|";
    for (let i = row; i < end; i++) out += " " + HEX[data[i]];
    for (let i = end; i < row + 16; i++) out += "   ";
    out += " |";
    for (let i = row; i < end; i++) out += ASCII[data[i]];
    for (let i = end; i < row + 16; i++) out += " ";
    out += "|";
  }
  out += "\n" + FOOTER;
  if (shown < length) out += `\n... ${length - shown} more bytes`;
  return out;
}

/**
 * Formats bytes on one line: the length, the bytes in hex and the ASCII form, with the bytes
 * past `maxBytes` (32 by default) counted rather than shown. Made for traces, one event a
 * line.
 *
 * @param data The bytes.
 * @param options The most bytes to show.
 * @returns The line, without a newline: `5B 68 65 6c 6c 6f |hello|`.
 *
 * @example A short frame and a long one
 * ```ts
 * import { hexdumpLine } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(hexdumpLine(new TextEncoder().encode("hi\n")), "3B 68 69 0a |hi.|");
 * assertEquals(
 *   hexdumpLine(new Uint8Array(100), { maxBytes: 2 }),
 *   "100B 00 00 ... |..| (+98)",
 * );
 * ```
 */
export function hexdumpLine(data: Uint8Array, options?: HexdumpOptions): string {
  const length = data.byteLength;
  const shown = Math.min(length, limit(options?.maxBytes, 32));
  let out = length + "B";
  for (let i = 0; i < shown; i++) out += " " + HEX[data[i]];
  if (shown < length) out += " ...";
  out += " |";
  for (let i = 0; i < shown; i++) out += ASCII[data[i]];
  out += "|";
  if (shown < length) out += ` (+${length - shown})`;
  return out;
}

function limit(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value >= 0)) {
    throw new RangeError(`Cannot hexdump: maxBytes must be a number >= 0, got ${value}`);
  }
  return Math.floor(value);
}

/** The row offset as 8 hex digits. */
function offset(value: number): string {
  return HEX[(value >>> 24) & 0xff] + HEX[(value >>> 16) & 0xff] + HEX[(value >>> 8) & 0xff] +
    HEX[value & 0xff];
}

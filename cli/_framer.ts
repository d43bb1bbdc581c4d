/** `--framer SPEC`: the names the CLI takes for the framing layer's framers. */

import {
  ChunkFramer,
  CobsFramer,
  DelimiterFramer,
  DotTerminatedFramer,
  type Framer,
  IdentityFramer,
  type LengthFieldLength,
  LengthPrefixedFramer,
  LineFramer,
  NetstringFramer,
  type ReceiveBuffer,
} from "../framing/mod.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";
import { UsageError } from "./_args.ts";

/** A parsed `--framer`: a framer factory, or tinyproto (a protocol of its own). */
export type FramerSpec =
  | {
    kind: "framer";
    /** The spec as given, for messages. */
    name: string;
    /** A fresh framer (framers keep per-stream state: one per connection). */
    create(): Framer<Uint8Array>;
    /**
     * How a received frame is printed (without `--hex`): `"line"`, the frame and a newline
     * (the framing's own end is not part of the frame); `"as-is"`, its bytes alone (`raw`
     * chunks, and `dot` bodies, whose every line keeps its line ending).
     */
    print: "line" | "as-is";
    /** Raw bytes: stdin chunks go out as they are read (not one frame per line). */
    raw: boolean;
  }
  | { kind: "tinyproto"; name: string };

/** The help text's list of framer specs. */
export const FRAMER_HELP = `Framers (--framer):
  line, line:crlf     lines ended by \\n (sent as \\n or \\r\\n); received \\n or \\r\\n
  len:4be, len:2le    length prefix of 1, 2, 3, 4 or 8 bytes, big (be) or little (le) endian
  len:varint          LEB128 (protobuf) length prefix; len:bsuint for cs.packetstream's
  netstring           djb netstrings (5:hello,)
  cobs, cobs:zpe, cobs:r   COBS frames ended by 0 (plain, zero-pair elimination, COBS/R)
  delim:TEXT          frames ended by TEXT (escapes: \\n \\r \\t \\0 \\xHH)
  chunk:N             fixed frames of N bytes
  dot                 SMTP DATA bodies ended by a lone "." line
  tinyproto           tinyproto 2.0.1 transmissions (size, ff ack, payload)
  raw                 no framing: bytes pass through as they come`;

/**
 * Parses a `--framer` spec.
 *
 * @throws {UsageError} For an unknown spec.
 */
export function parseFramer(spec: string): FramerSpec {
  const [name, arg] = splitOnce(spec, ":");
  const framer = (
    create: () => Framer<Uint8Array>,
    print: "line" | "as-is" = "line",
    raw = false,
  ): FramerSpec => ({ kind: "framer", name: spec, create, print, raw });
  switch (name) {
    case "line":
      if (arg !== undefined && arg !== "lf" && arg !== "crlf") break;
      return framer(
        () =>
          new LineFramer({
            lineEnding: arg === "crlf" ? "\r\n" : "\n",
            allowUnterminated: true,
            maxLength: 16 << 20, // as stdin's lines (the library's default is 64 KiB)
          }),
      );
    case "len":
    case "length":
      return framer(lengthFramer(spec, arg ?? "4be"));
    case "netstring":
      if (arg !== undefined) break;
      return framer(() => new NetstringFramer());
    case "cobs": {
      const variant = arg === undefined
        ? "cobs"
        : arg === "zpe"
        ? "zpe"
        : arg === "r"
        ? "cobsr"
        : "";
      if (variant === "") break;
      return framer(() => new CobsFramer({ variant }));
    }
    case "delim": {
      if (!arg) break;
      const delimiter = unescape(arg);
      return framer(() => new DelimiterFramer({ delimiters: [delimiter] }));
    }
    case "chunk": {
      const size = Number(arg);
      if (!Number.isSafeInteger(size) || size < 1) break;
      return framer(() => new FixedSizeFramer(size));
    }
    case "dot":
      if (arg !== undefined) break;
      return framer(() => new DotTerminatedFramer(), "as-is");
    case "tinyproto":
      if (arg !== undefined) break;
      return { kind: "tinyproto", name: spec };
    case "raw":
    case "none":
      if (arg !== undefined) break;
      return framer(() => new IdentityFramer(), "as-is", true);
  }
  throw new UsageError(`unknown framer "${spec}" (see --help for the list)`);
}

function lengthFramer(spec: string, arg: string): () => Framer<Uint8Array> {
  if (arg === "varint" || arg === "leb128" || arg === "bsuint") {
    const field: LengthFieldLength = arg === "bsuint" ? "bsuint" : "leb128";
    return () => new LengthPrefixedFramer({ lengthFieldLength: field });
  }
  const match = /^([12348])(be|le)?$/.exec(arg);
  if (!match) throw new UsageError(`unknown framer "${spec}" (len:4be, len:2le, len:varint, ...)`);
  const width = Number(match[1]) as 1 | 2 | 3 | 4 | 8;
  const littleEndian = match[2] === "le";
  return () => new LengthPrefixedFramer({ lengthFieldLength: width, littleEndian });
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

/**
 * `\n`, `\r`, `\t`, `\0`, `\\` and `\xHH` escapes, as a shell user types them; `\xHH` is the
 * byte HH (not the UTF-8 form of U+00HH), the rest of the text is UTF-8.
 */
function unescape(text: string): Uint8Array {
  const out: number[] = [];
  const encoder = new TextEncoder();
  let at = 0;
  for (const match of text.matchAll(/\\(x[0-9a-fA-F]{2}|.)/g)) {
    out.push(...encoder.encode(text.slice(at, match.index)));
    at = match.index + match[0].length;
    const e = match[1];
    if (e[0] === "x" && e.length === 3) out.push(parseInt(e.slice(1), 16));
    else {
      const char = ({ n: "\n", r: "\r", t: "\t", "0": "\0" } as Record<string, string>)[e] ?? e;
      out.push(...encoder.encode(char));
    }
  }
  out.push(...encoder.encode(text.slice(at)));
  return new Uint8Array(out);
}

/**
 * `chunk:N`: frame after frame of exactly N bytes (a `ChunkFramer` per frame: that framer
 * cuts one chunk, then nothing more). A frame of another size is refused, not misframed.
 */
class FixedSizeFramer implements Framer<Uint8Array> {
  readonly #size: number;
  #chunk: ChunkFramer;

  constructor(size: number) {
    this.#size = size;
    this.#chunk = new ChunkFramer(size);
  }

  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    return this.#next().decode(buffer);
  }

  decodeEof(buffer: ReceiveBuffer): Uint8Array | undefined {
    return this.#next().decodeEof(buffer);
  }

  encode(frame: Uint8Array, out: SendBuffer): void {
    if (frame.byteLength !== this.#size) {
      throw new RangeError(
        `a chunk:${this.#size} frame is ${this.#size} bytes, got ${frame.byteLength}`,
      );
    }
    out.write(frame);
  }

  /** The chunk in progress: a new one once the last was delivered whole. */
  #next(): ChunkFramer {
    if (this.#chunk.done) this.#chunk = new ChunkFramer(this.#size);
    return this.#chunk;
  }
}

/** What the commands share: addresses, TLS options from flags, stdout and stdin. */

import { type Address, formatAddress, parseAddress } from "../endpoints/address.ts";
import { FrameDecoderStream } from "../framing/decoder_stream.ts";
import { LineFramer } from "../framing/line.ts";
import type { TlsClientOptions, TlsServerOptions } from "../transport/tls_options.ts";
import { hexdump } from "../transport/hexdump.ts";
import { CliError, type ParsedArgs, UsageError } from "./_args.ts";
import { type FramerSpec, parseFramer } from "./_framer.ts";

/** Where to connect or listen, as the user gave it and parsed. */
export interface Target {
  /** `tcp` also covers TLS (with `--tls`). */
  kind: "tcp" | "udp" | "unix";
  /** For `createConnection` / `createServer`. */
  address: Address;
  /** For messages: `127.0.0.1:9`, `/tmp/s.sock`. */
  label: string;
}

/** The help text's address forms; `udp`: whether the command takes `--udp`. */
export function addressHelp(udp: boolean): string {
  return `Addresses:
  HOST:PORT, [V6]:PORT   TCP (TLS with --tls${udp ? "; UDP with --udp" : ""})
  unix:PATH, or a PATH with a /   a Unix socket`;
}

/** The help text's TLS client flags. */
export const TLS_CLIENT_HELP = `  --tls               connect with TLS
  --ca FILE           trust the CA certificates in FILE (PEM) as well as the system's
  --alpn P1,P2        offer these ALPN protocols
  --sni NAME          the server name to send and verify (default: the host)
  --insecure          accept a certificate for any name (it must still chain to a trusted CA)`;

/** The help text's TLS server flags. */
export const TLS_SERVER_HELP = `  --tls               serve TLS (needs --cert and --key)
  --cert FILE         the certificate chain (PEM)
  --key FILE          the private key (PEM)
  --alpn P1,P2        accept these ALPN protocols`;

/** Flags that take a value, for every command that connects. */
export const TLS_VALUE_FLAGS: readonly string[] = ["ca", "alpn", "sni", "cert", "key"];
/** Flags that take a value, for commands that only connect. */
export const TLS_CLIENT_VALUE_FLAGS: readonly string[] = ["ca", "alpn", "sni"];
/** Flags that take a value, for commands that only listen. */
export const TLS_SERVER_VALUE_FLAGS: readonly string[] = ["cert", "key", "alpn"];

/**
 * Parses an address argument.
 *
 * @throws {UsageError} When it is missing or malformed, or `--udp` is given a Unix path.
 */
export function parseTarget(raw: string | undefined, udp: boolean): Target {
  if (raw === undefined || raw === "") throw new UsageError("missing ADDR");
  const path = raw.startsWith("unix:") ? raw.slice(5) : raw.includes("/") ? raw : undefined;
  if (path !== undefined) {
    if (udp) throw new UsageError(`--udp needs HOST:PORT, got "${raw}"`);
    if (path === "") throw new UsageError(`missing path in "${raw}"`);
    return { kind: "unix", address: { path }, label: path };
  }
  try {
    const parsed = parseAddress(raw);
    return { kind: udp ? "udp" : "tcp", address: raw, label: formatAddress(parsed) };
  } catch (error) {
    throw new UsageError(`bad address "${raw}": expected HOST:PORT, [V6]:PORT or unix:PATH`, {
      cause: error,
    });
  }
}

/**
 * The `--framer` of a session with `target` (default `line`). Over `--udp` each stdin line is
 * one datagram and each datagram one frame: no framer is taken.
 *
 * @throws {UsageError} For an unknown spec, or any `--framer` with `--udp`.
 */
export function framerFlag(args: ParsedArgs, target: Target): FramerSpec {
  const spec = args.values.get("framer");
  if (spec !== undefined && target.kind === "udp") {
    throw new UsageError("--framer does not work over --udp: each line of stdin is one datagram");
  }
  return parseFramer(spec ?? "line");
}

/** TLS client options from `--tls --ca --alpn --sni --insecure`, or `undefined` without `--tls`. */
export async function tlsClientOptions(args: ParsedArgs): Promise<TlsClientOptions | undefined> {
  if (!args.booleans.has("tls")) {
    for (const flag of ["ca", "sni", "alpn", "insecure"]) {
      if ((args.values.has(flag) || args.booleans.has(flag)) && !args.values.has("starttls")) {
        throw new UsageError(`--${flag} needs --tls (or --starttls)`);
      }
    }
    if (!args.values.has("starttls")) return undefined;
  }
  const ca = args.values.get("ca");
  return {
    caCerts: ca === undefined ? undefined : [await readText(ca, "--ca")],
    alpnProtocols: alpn(args),
    serverHostname: args.values.get("sni"),
    unsafelyDisableHostnameVerification: args.booleans.has("insecure") || undefined,
  };
}

/** TLS server options from `--tls --cert --key --alpn`, or `undefined` without `--tls`. */
export async function tlsServerOptions(args: ParsedArgs): Promise<TlsServerOptions | undefined> {
  if (!args.booleans.has("tls")) {
    for (const flag of ["cert", "key", "alpn"]) {
      if (args.values.has(flag)) throw new UsageError(`--${flag} needs --tls`);
    }
    return undefined;
  }
  const cert = args.values.get("cert");
  const key = args.values.get("key");
  if (cert === undefined || key === undefined) throw new UsageError("--tls needs --cert and --key");
  return {
    cert: await readText(cert, "--cert"),
    key: await readText(key, "--key"),
    alpnProtocols: alpn(args),
  };
}

function alpn(args: ParsedArgs): string[] | undefined {
  return args.values.get("alpn")?.split(",").filter((p) => p !== "");
}

/** Reads a text file named on the command line; a failure is one clear line. */
export async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new CliError(`cannot read ${what} ${path}: ${describeFileError(error)}`);
  }
}

/** Reads a file's bytes named on the command line; a failure is one clear line. */
export async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new CliError(`cannot read ${what} ${path}: ${describeFileError(error)}`);
  }
}

function describeFileError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return error instanceof Error ? error.message : String(error);
}

/** Writes all of `data` to stdout (blocking: the terminal or pipe sets the pace). */
export function writeStdout(data: Uint8Array): void {
  for (let at = 0; at < data.byteLength;) at += Deno.stdout.writeSync(data.subarray(at));
}

const encoder = new TextEncoder();
const NEWLINE = encoder.encode("\n");

/** Writes a line of text to stdout. */
export function printLine(text: string): void {
  writeStdout(encoder.encode(text + "\n"));
}

/** Writes a line of text to stderr. */
export function printErrLine(text: string): void {
  const data = encoder.encode(text + "\n");
  for (let at = 0; at < data.byteLength;) at += Deno.stderr.writeSync(data.subarray(at));
}

/**
 * Prints a received frame: a hexdump with `--hex`, the bytes as they are for a framer that
 * prints `as-is` (`raw`, `dot`), else the frame and a newline.
 */
export function printFrame(frame: Uint8Array, hex: boolean, framer: FramerSpec): void {
  if (hex) {
    if (frame.byteLength === 0) printLine("(empty frame)");
    else printLine(hexdump(frame));
  } else if (framer.kind === "framer" && framer.print === "as-is") {
    writeStdout(frame);
  } else {
    writeStdout(frame);
    writeStdout(NEWLINE);
  }
}

/**
 * What stdin becomes: one frame per line (the line ending dropped), or the chunks as read for
 * the `raw` framer. Lines may be up to 16 MiB.
 */
export function stdinFrames(raw: boolean): ReadableStream<Uint8Array> {
  const input = Deno.stdin.readable;
  if (raw) return input;
  return input.pipeThrough(
    new FrameDecoderStream(new LineFramer({ allowUnterminated: true, maxLength: 16 << 20 })),
  );
}

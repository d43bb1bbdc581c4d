/** `--trace` and `--stats`: the library's wire trace and a connection's counters, on stderr. */

import type { PacketStats } from "../packet/stats.ts";
import type { FramedStats, ServerStats, TransportStats } from "../transport/stats.ts";
import { type TraceSubscription, traceToConsole } from "../transport/trace.ts";
import { type ParsedArgs, UsageError } from "./_args.ts";
import { printErrLine } from "./_common.ts";

/** The help text of `--trace` and `--stats`. */
export const OBSERVE_HELP =
  `  --trace[=hex]       print the wire trace to stderr: open and close, each frame (and packet)
                      each way; =hex prints the frames' bytes as hexdump tables
  --stats             at the end, print the connection's counters to stderr in one line`;

/** The optional-value flags `--trace` and `--trace=hex`. */
export const OBSERVE_OPTIONALS: readonly string[] = ["trace"];

/**
 * Checks `--trace[=hex]`; call it before connecting, with {@linkcode startTrace} after the
 * other usage checks.
 *
 * @throws {UsageError} For a value other than `hex`.
 */
export function traceMode(args: ParsedArgs): "off" | "text" | "hex" {
  const mode = args.values.get("trace");
  if (mode === undefined) return "off";
  if (mode === "") return "text";
  if (mode === "hex") return "hex";
  throw new UsageError(`--trace takes =hex or no value, got "--trace=${mode}"`);
}

/**
 * Starts printing the wire trace to stderr through `traceToConsole` (a no-op `Disposable`
 * when `--trace` is not given).
 *
 * @throws {UsageError} For a bad `--trace` value.
 */
export function startTrace(args: ParsedArgs): Disposable {
  const mode = traceMode(args);
  if (mode === "off") return { [Symbol.dispose]() {} };
  const subscription: TraceSubscription = traceToConsole({
    hex: mode === "hex",
    log: (line) => printErrLine(line),
  });
  return subscription;
}

/** The stats of a session's link: a framed connection's, or a bare transport's (UDP). */
export type LinkStats = FramedStats | TransportStats;

function bytes(s: TransportStats): string {
  return `bytes in=${s.bytesReceived} out=${s.bytesSent}`;
}

function closed(s: TransportStats | undefined): string {
  return `closed=${s?.closeReason ?? "open"}`;
}

/**
 * The one stats line of a session: `plexus: stats: bytes in=N out=N, frames in=N out=N,
 * closed=REASON` (datagrams for UDP).
 */
export function formatLinkStats(s: LinkStats): string {
  const units = "framesReceived" in s
    ? `frames in=${s.framesReceived} out=${s.framesSent}`
    : `datagrams in=${s.reads} out=${s.writes}`;
  return `plexus: stats: ${bytes(s)}, ${units}, ${closed(s)}`;
}

/**
 * The stats line of a packet connection (`rpc call`): bytes, requests sent, responses and
 * failures, lost, latency p50 and p99 in ms, and why it closed.
 */
export function formatPacketStats(s: PacketStats): string {
  const t = s.transport;
  const l = s.latency;
  return `plexus: stats: ${t ? bytes(t) : "bytes in=0 out=0"}, requests sent=${s.requestsSent} ` +
    `responses=${s.responses} failed=${s.notOk} lost=${s.lost} served=${s.requestsServed}, ` +
    `latency p50=${l.p50.toFixed(3)}ms p99=${l.p99.toFixed(3)}ms, ${closed(t)}`;
}

/**
 * The stats line of a server (`rpc serve`): connections, the bytes of all of them, and the
 * requests answered.
 */
export function formatServerStats(s: ServerStats, requests: number): string {
  return `plexus: stats: connections accepted=${s.accepted} closed=${s.closed} ` +
    `rejected=${s.rejected}, bytes in=${s.total.bytesReceived} out=${s.total.bytesSent}, ` +
    `requests served=${requests}`;
}

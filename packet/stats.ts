/**
 * A packet connection's statistics: its requests to the peer, the peer's requests to it, and
 * the latency of its own requests.
 *
 * @module
 */

import type { LatencySummary } from "../transport/_histogram.ts";
import type { TransportStats } from "../transport/stats.ts";

export type { LatencySummary };

/**
 * A snapshot of a `PacketConnection`'s counters, from `connection.stats()`.
 *
 * Our requests (made with `submit`, `call`, `request`; the extensions' own requests are not
 * counted): each one sent is eventually counted once as answered (`responses`, of which
 * `notOk` failures), `cancelled`, `timedOut` or `lost`, or is still `inFlight`. A request
 * cancelled or timed out before it could be sent is counted there too, but not as sent.
 *
 * The peer's requests: each one received is counted once as `requestsServed`, `failed` or
 * `refused` when its answer goes out (or not at all, when the connection ends first).
 *
 * @example Count an exchange
 * ```ts
 * import { PacketConnection, RemoteError } from "@plexus/net/packet";
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const server = new PacketConnection({
 *   requestHandler: (rqType) => {
 *     if (rqType === 1) throw new Error("broken");
 *     return "ok";
 *   },
 *   onHandlerError: () => {},
 * });
 * const client = new PacketConnection();
 * createMemoryTransportPair(server, client);
 * await client.call(0);
 * await client.submit(1); // answered not ok: "exception during handler"
 * await client.close();
 * const ours = client.stats();
 * assertEquals([ours.requestsSent, ours.responses, ours.notOk, ours.latency.count], [2, 2, 1, 2]);
 * const theirs = server.stats();
 * assertEquals([theirs.requestsReceived, theirs.requestsServed, theirs.failed], [2, 1, 1]);
 * ```
 */
export interface PacketStats {
  /** Our requests written to the peer. */
  requestsSent: number;
  /** Our requests holding a `maxInFlight` slot now (see `connection.inFlight`). */
  inFlight: number;
  /** Responses received to our requests (ok or not). */
  responses: number;
  /** Of those, failures (`ok` false: the peer refused the request, or its handler failed). */
  notOk: number;
  /** Our requests cancelled by their `signal` before a response came. */
  cancelled: number;
  /** Our requests that ran past their `timeout` before a response came. */
  timedOut: number;
  /** Our requests sent and never answered because the connection ended. */
  lost: number;
  /** The peer's requests received (the extensions' own excepted). */
  requestsReceived: number;
  /** The peer's requests answered by our request handler: ok, or a `RemoteError` it threw. */
  requestsServed: number;
  /**
   * The peer's requests our handler failed: it threw anything but a `RemoteError` (the peer got
   * `exception during handler`), including a running handler that threw because the peer
   * cancelled it (its `signal` aborted); its answer could not be encoded; or its
   * `requestTimeout` ran out (queued or running).
   */
  failed: number;
  /**
   * The peer's requests refused without running the handler: no handler, after ERQ, unknown
   * channel, tag in use, `too many requests`, fields out of range, or cancelled by the peer
   * while still queued (answered `request cancelled`; a cancel that reaches a running handler
   * counts under `failed` if the handler throws, `requestsServed` if it answers).
   */
  refused: number;
  /**
   * The latency of our answered requests, from the packet's encoding to the read that brought
   * its response, in milliseconds (estimated quantiles from a fixed-size histogram). With at
   * most 16 requests in flight every request is timed; beyond that, one in 16 (every 16th
   * sent), so `latency.count` may be below `responses` under load. The sample is not uniform:
   * it over-represents requests sent while few were in flight, so under sustained load the
   * quantiles lean towards the quieter moments.
   */
  latency: LatencySummary;
  /** The transport's statistics, once connected over a transport that keeps them. */
  transport: TransportStats | undefined;
}

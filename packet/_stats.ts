/**
 * A packet connection's counters: plain number fields the request paths add to, and the
 * latency histogram of its own requests.
 *
 * @module
 */

import { Histogram } from "../transport/_histogram.ts";

/** See `PacketStats` for what each counter counts. */
export class PacketCounters {
  requestsSent = 0;
  responses = 0;
  notOk = 0;
  cancelled = 0;
  timedOut = 0;
  lost = 0;
  requestsReceived = 0;
  requestsServed = 0;
  failed = 0;
  refused = 0;
  /** Our answered requests' latency, in ms. */
  readonly latency: Histogram = new Histogram();
}

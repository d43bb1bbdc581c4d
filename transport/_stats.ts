/**
 * A transport's counters: plain number fields its read and flush paths add to, the pause
 * clocks, and the snapshot `stats()` returns.
 *
 * @module
 */

import type { CloseReason, TransportStats } from "./stats.ts";

/** One transport's counters; see {@linkcode TransportStats} for what each one counts. */
export class Counters {
  /** `Date.now()` at construction. */
  readonly openedAt: number = Date.now();
  /** `Date.now()` once ended. */
  closedAt: number | undefined;
  bytesReceived = 0;
  bytesSent = 0;
  reads = 0;
  writes = 0;
  readPauses = 0;
  readPausedMs = 0;
  writePauses = 0;
  writePausedMs = 0;
  /** `performance.now()` when the running read pause began; -1: none. */
  #readPausedSince = -1;
  /** `performance.now()` when the running write pause began; -1: none. */
  #writePausedSince = -1;

  /** Reading was paused. */
  pausedReading(): void {
    this.readPauses++;
    this.#readPausedSince = performance.now();
  }

  /** Reading resumed, or stopped for good (a close began, or the transport ended). */
  resumedReading(): void {
    if (this.#readPausedSince < 0) return;
    this.readPausedMs += performance.now() - this.#readPausedSince;
    this.#readPausedSince = -1;
  }

  /** The protocol got `pauseWriting()`. */
  pausedWriting(): void {
    this.writePauses++;
    this.#writePausedSince = performance.now();
  }

  /** The protocol got `resumeWriting()` (or the transport ended). */
  resumedWriting(): void {
    if (this.#writePausedSince < 0) return;
    this.writePausedMs += performance.now() - this.#writePausedSince;
    this.#writePausedSince = -1;
  }

  /** The transport ended: running pauses stop counting. */
  end(): void {
    if (this.closedAt !== undefined) return;
    this.closedAt = Date.now();
    this.resumedReading();
    this.resumedWriting();
  }

  /** A snapshot, with running pauses counted up to now. */
  snapshot(reason: CloseReason | undefined, error: Error | undefined): TransportStats {
    // The clock is read only for a running pause: an ended transport's snapshot (a server
    // adds one to its totals per connection) costs no clock read.
    const now = this.#readPausedSince < 0 && this.#writePausedSince < 0 ? 0 : performance.now();
    return {
      openedAt: this.openedAt,
      closedAt: this.closedAt,
      closeReason: reason,
      error,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      reads: this.reads,
      writes: this.writes,
      readPauses: this.readPauses,
      readPausedMs: this.readPausedMs +
        (this.#readPausedSince < 0 ? 0 : now - this.#readPausedSince),
      writePauses: this.writePauses,
      writePausedMs: this.writePausedMs +
        (this.#writePausedSince < 0 ? 0 : now - this.#writePausedSince),
    };
  }
}

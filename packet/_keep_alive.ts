/**
 * Keep-alive (an extension): after a silent period a ping goes out; a second silent period in
 * a row means the peer is gone.
 *
 * Any bytes from the peer count, not only whole packets (a large packet may take longer than a
 * period to arrive). Two kinds of tick are not held against the peer:
 *
 * | tick                                        | effect                                     |
 * | ------------------------------------------- | ------------------------------------------ |
 * | while our reading is paused                 | starts over: the peer's bytes wait unread  |
 * | late by more than half a period (not twice in a row) | not counted: our event loop stalled (a long task, GC), so bytes that came meanwhile are not read yet |
 *
 * @module
 */

/** What a {@linkcode KeepAlive} calls. */
export interface KeepAliveHost {
  /** Sends a ping. */
  ping(): void;
  /** The peer stayed silent for two periods. */
  dead(): void;
  /** Whether we are reading (silence is only the peer's fault then). */
  reading(): boolean;
}

/** Watches for bytes from the peer, pings when it is silent, and gives up after two periods. */
export class KeepAlive {
  readonly #period: number;
  readonly #host: KeepAliveHost;
  #timer: ReturnType<typeof setInterval> | undefined;
  #heard = true;
  #silent = 0;
  #lastTick = 0;
  #skipped = false;

  /**
   * @param period Milliseconds of silence before a ping.
   * @param host Pings, gives up, and tells whether we read.
   */
  constructor(period: number, host: KeepAliveHost) {
    this.#period = period;
    this.#host = host;
  }

  /** Starts watching. */
  start(): void {
    this.#heard = true;
    this.#lastTick = performance.now();
    this.#timer ??= setInterval(() => this.#tick(), this.#period);
  }

  /** Bytes arrived. */
  heard(): void {
    this.#heard = true;
  }

  /** Stops watching. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = performance.now();
    // A busy process may make every tick late: then only every other one is skipped.
    const stalled = now - this.#lastTick > 1.5 * this.#period && !this.#skipped;
    this.#skipped = stalled;
    this.#lastTick = now;
    if (stalled) return; // judged at the next tick, once what came meanwhile was read
    if (this.#heard || !this.#host.reading()) {
      this.#heard = false;
      this.#silent = 0;
    } else if (++this.#silent === 1) {
      this.#host.ping();
    } else {
      this.stop();
      this.#host.dead();
    }
  }
}

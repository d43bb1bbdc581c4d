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
 * | our ping still waits behind our bytes, some of which went out since the last tick | not counted: the peer is taking in what we sent (a large request over a slow link) and cannot answer a ping it has not got; once the ping is out, it gets a period to answer |
 *
 * While the transport is closing (closed under the connection: by its owner, or `close()` on
 * it), reading has stopped and no ping can go out; the peer only has to take our last bytes,
 * and two periods in a row in which none of them went out mean it is gone.
 *
 * @module
 */

/** What a {@linkcode KeepAlive} calls. */
export interface KeepAliveHost {
  /** Sends a ping. */
  ping(): void;
  /**
   * The peer stayed silent for two periods, or (`closing`) took none of our last bytes for two.
   */
  dead(closing: boolean): void;
  /** Whether we are reading (silence is only the peer's fault then). */
  reading(): boolean;
  /** Whether the transport is closing: only our last bytes are still to go out. */
  closing(): boolean;
  /** The bytes written to the peer so far (0 when the transport does not count them). */
  sent(): number;
  /** The bytes waiting to be written to the peer. */
  unsent(): number;
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
  /** What `sent()` is once the last ping has been written. */
  #pingSent = 0;
  /** `sent()` at the ping, then at each tick that waited for it to go out. */
  #lastSent = 0;
  /** Whether a tick waited for the ping to go out (the peer then gets a period after it). */
  #waited = false;

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
    if (this.#host.closing()) {
      this.#judgeFlush();
      return;
    }
    if (this.#heard || !this.#host.reading()) {
      this.#heard = false;
      this.#silent = 0;
      this.#waited = false;
    } else if (++this.#silent === 1) {
      this.#host.ping();
      this.#lastSent = this.#host.sent();
      this.#pingSent = this.#lastSent + this.#host.unsent();
    } else if (this.#pingOutstanding()) {
      // The ping waits behind our bytes, which the peer is taking in: it cannot answer yet.
      this.#silent = 1;
    } else {
      this.stop();
      this.#host.dead(false);
    }
  }

  /** A tick while the transport is closing: gone after two periods in which nothing went out. */
  #judgeFlush(): void {
    const sent = this.#host.sent();
    if (this.#host.unsent() === 0 || sent > this.#lastSent) {
      this.#lastSent = sent;
      this.#silent = 0;
    } else if (++this.#silent >= 2) {
      this.stop();
      this.#host.dead(true);
    }
  }

  /**
   * Whether the ping is still not out but our bytes went out since the last look (or it just
   * went out after a wait): the peer is reading, and is given a period after the ping.
   */
  #pingOutstanding(): boolean {
    const sent = this.#host.sent();
    if (sent < this.#pingSent) {
      if (sent <= this.#lastSent) return false; // nothing went out: the peer is not reading
      this.#lastSent = sent;
      this.#waited = true;
      return true;
    }
    const waited = this.#waited;
    this.#waited = false;
    return waited;
  }
}

/**
 * Keep-alive (an extension): after a silent period a ping goes out; a second silent period in
 * a row means the peer is gone.
 *
 * @module
 */

/** Watches for packets from the peer, pings when it is silent, and gives up after two periods. */
export class KeepAlive {
  readonly #period: number;
  readonly #ping: () => void;
  readonly #dead: () => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #heard = true;
  #silent = 0;

  /**
   * @param period Milliseconds of silence before a ping.
   * @param ping Sends a ping.
   * @param dead Called once the peer stayed silent for two periods.
   */
  constructor(period: number, ping: () => void, dead: () => void) {
    this.#period = period;
    this.#ping = ping;
    this.#dead = dead;
  }

  /** Starts watching. */
  start(): void {
    this.#heard = true;
    this.#timer ??= setInterval(() => this.#tick(), this.#period);
  }

  /** A packet arrived. */
  heard(): void {
    this.#heard = true;
  }

  /** Stops watching. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    if (this.#heard) {
      this.#heard = false;
      this.#silent = 0;
    } else if (++this.#silent === 1) {
      this.#ping();
    } else {
      this.stop();
      this.#dead();
    }
  }
}

/**
 * A protocol that records every callback, for tests: the order of events, the bytes received,
 * and promises that settle when a condition on them holds (never a sleep).
 */

import type { Protocol, Transport } from "@plexus/net/transport";
import { concat } from "./_shared.ts";

/** One recorded callback. */
export type Event =
  | "connectionMade"
  | "data"
  | "eof"
  | "connectionLost"
  | "pauseWriting"
  | "resumeWriting";

/** Options of a {@linkcode Recorder}. */
export interface RecorderOptions {
  /** Called with each chunk (after recording it). */
  onData?: (data: Uint8Array, recorder: Recorder) => void;
  /** What `eofReceived()` returns. */
  keepOpenOnEof?: boolean;
  /** Called in `connectionMade()`. */
  onConnect?: (transport: Transport, recorder: Recorder) => void;
  /** Called in `resumeWriting()`. */
  onResume?: (recorder: Recorder) => void;
}

/** A protocol that records what its transport does to it. */
export class Recorder implements Protocol {
  readonly events: Event[] = [];
  readonly chunks: Uint8Array[] = [];
  transport!: Transport;
  lostWith: Error | undefined;
  received = 0;
  readonly #options: RecorderOptions;
  #waiters: { check: () => boolean; resolve: () => void }[] = [];

  constructor(options: RecorderOptions = {}) {
    this.#options = options;
  }

  /** Everything received so far, as text. */
  get text(): string {
    return new TextDecoder().decode(concat(this.chunks));
  }

  /** How many times `event` happened. */
  count(event: Event): number {
    return this.events.filter((e) => e === event).length;
  }

  /** Resolves once `check()` holds (checked now and after every event). */
  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }

  /** Resolves once at least `n` bytes have arrived. */
  untilReceived(n: number): Promise<void> {
    return this.until(() => this.received >= n);
  }

  /** Resolves once `event` has happened. */
  untilEvent(event: Event): Promise<void> {
    return this.until(() => this.events.includes(event));
  }

  connectionMade(transport: Transport): void {
    this.transport = transport;
    this.#record("connectionMade");
    this.#options.onConnect?.(transport, this);
  }

  dataReceived(data: Uint8Array): void {
    this.chunks.push(data);
    this.received += data.byteLength;
    this.#record("data");
    this.#options.onData?.(data, this);
  }

  eofReceived(): boolean {
    this.#record("eof");
    return this.#options.keepOpenOnEof ?? false;
  }

  pauseWriting(): void {
    this.#record("pauseWriting");
  }

  resumeWriting(): void {
    this.#record("resumeWriting");
    this.#options.onResume?.(this);
  }

  connectionLost(error: Error | undefined): void {
    this.lostWith = error;
    this.#record("connectionLost");
  }

  #record(event: Event): void {
    this.events.push(event);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.check()) return true;
      waiter.resolve();
      return false;
    });
  }
}

/** A channel whose writes wait for `accept(n)`: a test decides when and how much leaves. */

import type { ByteChannel } from "@plexus/net/transport";

/** Writes wait until `accept()`; reads wait until `close()`. */
export class ManualChannel implements ByteChannel {
  pending: { p: Uint8Array; resolve: (n: number) => void; reject: (e: Error) => void }[] = [];
  written: number[] = [];
  eofCalls = 0;
  isClosed = false;
  #closed = Promise.withResolvers<void>();
  #readers: ((n: number | null) => void)[] = [];
  #waiters: (() => void)[] = [];

  read(_p: Uint8Array): Promise<number | null> {
    if (this.isClosed) return Promise.resolve(null);
    return new Promise((resolve) => this.#readers.push(resolve));
  }

  write(p: Uint8Array): Promise<number> {
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    this.pending.push({ p, resolve, reject });
    for (const wake of this.#waiters.splice(0)) wake();
    return promise;
  }

  /** Lets the oldest pending write take up to `n` bytes (waiting for one to be pending). */
  async accept(n: number): Promise<number> {
    while (this.pending.length === 0) await new Promise<void>((r) => this.#waiters.push(r));
    const write = this.pending.shift()!;
    const k = Math.min(n, write.p.byteLength);
    this.written.push(...write.p.subarray(0, k));
    write.resolve(k);
    return k;
  }

  closeWrite(): Promise<void> {
    this.eofCalls++;
    return Promise.resolve();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const read of this.#readers.splice(0)) read(null);
    for (const write of this.pending.splice(0)) write.reject(new Deno.errors.BadResource("closed"));
    this.#closed.resolve();
  }

  get closed(): Promise<void> {
    return this.#closed.promise;
  }
}

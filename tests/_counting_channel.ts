import type { ByteChannel } from "@plexus/net/transport";

/** Wraps a byte channel and counts the calls a transport makes on it. */
export class CountingChannel implements ByteChannel {
  readonly inner: ByteChannel;
  reads = 0;
  /** Reads issued and not yet settled. */
  readsPending = 0;
  /** `readsPending` when `close()` was called. */
  readsPendingAtClose: number | undefined;
  writes = 0;
  bytesWritten = 0;
  #writeWaiters: { bytes: number; resolve: () => void }[] = [];

  constructor(inner: ByteChannel) {
    this.inner = inner;
  }

  get localAddr(): Deno.Addr | undefined {
    return this.inner.localAddr;
  }

  get remoteAddr(): Deno.Addr | undefined {
    return this.inner.remoteAddr;
  }

  async read(p: Uint8Array): Promise<number | null> {
    this.reads++;
    this.readsPending++;
    try {
      return await this.inner.read(p);
    } finally {
      this.readsPending--;
    }
  }

  async write(p: Uint8Array): Promise<number> {
    this.writes++;
    const n = await this.inner.write(p);
    this.bytesWritten += n;
    this.#writeWaiters = this.#writeWaiters.filter((w) => {
      if (this.bytesWritten < w.bytes) return true;
      w.resolve();
      return false;
    });
    return n;
  }

  /** Resolves once `bytes` bytes in all have been written to the inner channel. */
  untilWritten(bytes: number): Promise<void> {
    if (this.bytesWritten >= bytes) return Promise.resolve();
    return new Promise((resolve) => this.#writeWaiters.push({ bytes, resolve }));
  }

  closeWrite(): Promise<void> {
    return this.inner.closeWrite();
  }

  close(): void {
    this.readsPendingAtClose = this.readsPending;
    this.inner.close();
  }
}

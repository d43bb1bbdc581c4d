import type { ByteChannel } from "./byte_channel.ts";

/** Options of {@linkcode createMemoryChannelPair}. */
export interface MemoryChannelOptions {
  /**
   * Bytes each direction holds before writes wait for the reader, like a socket buffer. Writes
   * larger than the free space are short, as on a real socket.
   *
   * @default {65536}
   */
  capacity?: number;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/** One direction of a memory channel: bounded bytes from one writer to one reader. */
class Pipe {
  readonly #capacity: number;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #ended = false;
  #readerClosed = false;
  #reader: Waiter<void> | undefined;
  #writer: Waiter<void> | undefined;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#size === 0) {
      // Woken by a write, then closed in the same turn: the close wins.
      if (this.#readerClosed) {
        throw new Deno.errors.Interrupted("Operation canceled: the channel was closed");
      }
      if (this.#ended) return null;
      await this.#wait("read");
    }
    let n = 0;
    while (n < p.byteLength && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.byteLength, p.byteLength - n);
      p.set(chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.byteLength) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#size -= n;
    this.#settle("write");
    return n;
  }

  async write(p: Uint8Array): Promise<number> {
    for (;;) {
      if (this.#readerClosed) throw new Deno.errors.BrokenPipe("Broken pipe: the peer closed");
      if (this.#ended) throw new Deno.errors.BrokenPipe("Broken pipe: the write end is closed");
      if (this.#size < this.#capacity) break;
      await this.#wait("write");
    }
    const n = Math.min(p.byteLength, this.#capacity - this.#size);
    if (n === 0) return 0;
    this.#chunks.push(p.slice(0, n));
    this.#size += n;
    this.#settle("read");
    return n;
  }

  /** The writer is done: the reader sees end of stream after the buffered bytes. */
  end(): void {
    this.#ended = true;
    this.#settle("read");
  }

  /** The reader is gone: its pending read rejects, and later writes fail. */
  closeReader(): void {
    this.#readerClosed = true;
    this.#chunks = [];
    this.#size = 0;
    this.#settle("read", new Deno.errors.Interrupted("Operation canceled: the channel was closed"));
    this.#settle("write");
  }

  /** The writer is gone: its pending write rejects. */
  closeWriter(): void {
    this.#settle(
      "write",
      new Deno.errors.Interrupted("Operation canceled: the channel was closed"),
    );
    this.end();
  }

  #wait(side: "read" | "write"): Promise<void> {
    if ((side === "read" ? this.#reader : this.#writer) !== undefined) {
      return Promise.reject(new Deno.errors.Busy(`Another ${side} is already pending`));
    }
    return new Promise((resolve, reject) => {
      if (side === "read") this.#reader = { resolve, reject };
      else this.#writer = { resolve, reject };
    });
  }

  #settle(side: "read" | "write", error?: Error): void {
    const waiter = side === "read" ? this.#reader : this.#writer;
    if (side === "read") this.#reader = undefined;
    else this.#writer = undefined;
    if (error) waiter?.reject(error);
    else waiter?.resolve();
  }
}

/** One end of an in-memory byte channel pair. */
class MemoryChannel implements ByteChannel {
  readonly #inbound: Pipe;
  readonly #outbound: Pipe;
  #closed = false;

  constructor(inbound: Pipe, outbound: Pipe) {
    this.#inbound = inbound;
    this.#outbound = outbound;
  }

  read(p: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("The channel is closed"));
    return this.#inbound.read(p);
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("The channel is closed"));
    return this.#outbound.write(p);
  }

  closeWrite(): Promise<void> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("The channel is closed"));
    this.#outbound.end();
    return Promise.resolve();
  }

  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("The channel is closed");
    this.#closed = true;
    this.#inbound.closeReader();
    this.#outbound.closeWriter();
  }
}

/**
 * Creates two connected in-memory byte channels: what one writes, the other reads. They behave
 * as a socket pair does (bounded buffers, short writes, half-close with `closeWrite()`, pending
 * calls rejected by `close()`, `BrokenPipe` after the peer closed), so protocols and transports
 * can be tested fast and deterministically without the network.
 *
 * @param options The capacity of each direction.
 * @returns The two ends.
 *
 * @example Write on one end, read on the other
 * ```ts
 * import { createMemoryChannelPair } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = createMemoryChannelPair();
 * await a.write(new Uint8Array([1, 2, 3]));
 * await a.closeWrite();
 * const buffer = new Uint8Array(8);
 * assertEquals(await b.read(buffer), 3);
 * assertEquals(await b.read(buffer), null);
 * a.close();
 * b.close();
 * ```
 */
export function createMemoryChannelPair(
  options?: MemoryChannelOptions,
): [ByteChannel, ByteChannel] {
  options ??= {};
  const capacity = options.capacity ?? 64 * 1024;
  // A whole number: a fractional one reported writes of bytes it did not store.
  if (!(Number.isSafeInteger(capacity) && capacity >= 1)) {
    throw new RangeError(
      `Cannot create memory channels: capacity must be a whole number >= 1, got ${capacity}`,
    );
  }
  const aToB = new Pipe(capacity);
  const bToA = new Pipe(capacity);
  return [new MemoryChannel(bToA, aToB), new MemoryChannel(aToB, bToA)];
}

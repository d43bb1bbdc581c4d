/**
 * Bridges between byte channels and Node streams, for what only `node:tls` can do on Deno
 * (server-side STARTTLS, TLS over a non-TCP channel) and for `node:net` sockets.
 *
 * @module
 */

import { Duplex } from "node:stream";
import {
  type ByteChannel,
  setSocketOption,
  SOCKET_OPTIONS,
  type SocketOption,
} from "./byte_channel.ts";
import { AdaptiveReadSize } from "./_read_size.ts";

/** Bytes buffered from a Node stream before it is paused. */
const NODE_READ_HIGH_WATER = 256 * 1024;
/** The largest read when a byte channel feeds a Node stream (reads start at 1 KiB). */
const DUPLEX_READ_SIZE = 256 * 1024;
/**
 * Milliseconds a graceful `close()` waits for the stream's end (a TLS `close_notify` and the
 * FIN) to be written before it destroys the stream anyway: a peer that does not read cannot
 * hold a closed channel open.
 */
export const CLOSE_GRACE = 1000;

/** Resolves when a Node stream has emitted `close`. */
function whenClosed(stream: Duplex): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once("close", () => resolve()));
}

/**
 * Resolves once a Node stream has finished writing (`finish`), or failed or closed: whichever
 * comes first.
 */
function whenFinished(stream: Duplex): Promise<void> {
  if (stream.writableFinished || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("finish", done);
      stream.off("error", done);
      stream.off("close", done);
      resolve();
    };
    stream.once("finish", done);
    stream.once("error", done);
    stream.once("close", done);
  });
}

/**
 * A {@linkcode ByteChannel} over a Node `Duplex` (a `net.Socket`, a `tls.TLSSocket`, ...).
 * Reads drain what the stream emitted, pausing it while {@linkcode NODE_READ_HIGH_WATER} bytes
 * wait; writes resolve when Node has flushed them.
 *
 * `close()` ends the stream gracefully when it can — a `TLSSocket` sends its `close_notify`
 * alert, then the streams under it shut their write side (the FIN) — and destroys it once that
 * is written, or after {@linkcode CLOSE_GRACE} ms; pending reads and writes reject at once.
 * `abort()` destroys the stream at once.
 */
export class NodeStreamChannel implements ByteChannel {
  readonly #stream: Duplex;
  readonly #closed: Promise<void>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #closing = false;
  #writesInFlight = 0;
  readonly #inner: Duplex[];
  /** The channel the stream runs over (TLS over a socket): its addresses are the socket's. */
  readonly #under: ByteChannel | undefined;
  #wake: (() => void) | undefined;
  // deno-lint-ignore no-explicit-any
  readonly #unsettled = new Set<(error: Error | undefined, value?: any) => void>();

  /**
   * @param stream The stream to read from and write to.
   * @param also Further streams to destroy and wait for on close (an inner transport).
   */
  constructor(stream: Duplex, also: Duplex[] = [], under?: ByteChannel) {
    this.#stream = stream;
    this.#under = under;
    this.#inner = also;
    this.#closed = Promise.all([stream, ...also].map(whenClosed)).then(() => {});
    stream.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.byteLength;
      if (this.#buffered >= NODE_READ_HIGH_WATER) this.#pause();
      this.#notify();
    });
    stream.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    stream.on("error", (error: Error) => {
      this.#error ??= error;
      this.#notify();
    });
    stream.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    for (const inner of also) {
      stream.once("close", () => inner.destroy());
      // A failure under a TLSSocket (a reset) only closes it, as if the peer had ended the
      // stream: without this, a reset would read as a clean end of stream.
      inner.on("error", (error: Error) => {
        this.#error ??= error;
        this.#notify();
      });
    }
  }

  /**
   * Sets a TCP option on the socket underneath: the channel a TLS stream runs over, or the
   * `node:net` socket itself (see `SOCKET_OPTIONS`).
   *
   * @returns Whether a TCP socket was reached.
   */
  [SOCKET_OPTIONS](option: SocketOption, enabled: boolean): boolean {
    if (this.#under !== undefined) return setSocketOption(this.#under, option, enabled);
    const stream = this.#stream as unknown as Partial<
      Record<string, (enabled: boolean) => unknown>
    >;
    const set = stream[option === "noDelay" ? "setNoDelay" : "setKeepAlive"];
    if (typeof set !== "function" || this.localAddr === undefined) return false;
    set.call(stream, enabled);
    return true;
  }

  /** Settles once the stream and the streams under it have closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** The local address, as Deno reports one. */
  get localAddr(): Deno.NetAddr | undefined {
    const s = this.#stream as Partial<{ localAddress: string; localPort: number }>;
    return s.localAddress === undefined
      ? this.#under?.localAddr as Deno.NetAddr | undefined
      : { transport: "tcp", hostname: s.localAddress, port: s.localPort ?? 0 };
  }

  /** The remote address, as Deno reports one. */
  get remoteAddr(): Deno.NetAddr | undefined {
    const s = this.#stream as Partial<{ remoteAddress: string; remotePort: number }>;
    return s.remoteAddress === undefined
      ? this.#under?.remoteAddr as Deno.NetAddr | undefined
      : { transport: "tcp", hostname: s.remoteAddress, port: s.remotePort ?? 0 };
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let n = 0;
    while (n < p.byteLength && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.byteLength, p.byteLength - n);
      p.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.byteLength) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#buffered -= n;
    if (this.#stream.isPaused() && this.#buffered < NODE_READ_HIGH_WATER) this.#resume();
    return n;
  }

  /**
   * Stops the stream, and the streams under it: Deno's `TLSSocket` keeps reading the stream it
   * wraps while paused and buffers what it decrypts without bound, so only pausing that stream
   * too stops reads from the socket.
   */
  #pause(): void {
    this.#stream.pause();
    for (const inner of this.#inner) inner.pause();
  }

  #resume(): void {
    for (const inner of this.#inner) inner.resume();
    this.#stream.resume();
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    this.#writesInFlight++;
    return this.#pending((settle) =>
      this.#stream.write(p, (error?: Error | null) => {
        this.#writesInFlight--;
        settle(error ?? undefined, p.byteLength);
      })
    );
  }

  closeWrite(): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    return this.#pending<void>((settle) => {
      // end()'s callback gets no error; a failure shows up as an "error" event instead.
      this.#stream.once("error", (error: Error) => settle(error));
      this.#stream.end(() => settle(undefined, undefined));
    });
  }

  /**
   * Closes both directions: pending reads and writes reject now; the stream is ended
   * gracefully (TLS `close_notify`, then FIN) and destroyed once that is written or after
   * {@linkcode CLOSE_GRACE} ms. A stream that failed, is still connecting or has writes in
   * flight (an abort with data pending) is destroyed at once.
   */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    const stream = this.#stream;
    const graceful = !this.#error && this.#writesInFlight === 0 && !stream.destroyed &&
      !(stream as Partial<{ connecting: boolean }>).connecting;
    this.#error ??= new Deno.errors.Interrupted("Operation canceled: the channel was closed");
    this.#notify();
    for (const settle of [...this.#unsettled]) settle(this.#error);
    if (!graceful) {
      this.#destroy();
      return;
    }
    const timer = setTimeout(() => this.#destroy(), CLOSE_GRACE);
    if (!stream.writableEnded) stream.end();
    // The outer stream has written its last bytes (close_notify) into the inner ones: end
    // them too, so the FIN follows once those bytes are on the wire.
    whenFinished(stream)
      .then(() => {
        for (const inner of this.#inner) if (!inner.writableEnded && !inner.destroyed) inner.end();
        return Promise.all(this.#inner.map(whenFinished));
      })
      .then(() => {
        clearTimeout(timer);
        this.#destroy();
      })
      .catch(() => {
        // An inner stream refused end(): nothing left to end in order.
        clearTimeout(timer);
        this.#destroy();
      });
  }

  /** Closes both directions at once, without a TLS `close_notify` or waiting for writes. */
  abort(): void {
    this.#closing = true;
    this.#error ??= new Deno.errors.Interrupted("Operation canceled: the channel was closed");
    this.#notify();
    this.#destroy();
  }

  #destroy(): void {
    this.#stream.destroy();
    // A destroyed Node stream need not call back for writes in flight: settle them here.
    for (const settle of [...this.#unsettled]) settle(this.#error);
  }

  /** Runs a callback-style operation whose promise `close()` rejects if it is still pending. */
  #pending<T>(start: (settle: (error: Error | undefined, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const settle = (error: Error | undefined, value?: T): void => {
        if (!this.#unsettled.delete(settle)) return;
        if (error) reject(error);
        else resolve(value as T);
      };
      this.#unsettled.add(settle);
      start(settle);
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Where `channelToDuplex`'s read loop is (see its `loop`). */
type PumpState = "idle" | "running" | "wanted";

/**
 * A Node `Duplex` over a {@linkcode ByteChannel}, so `node:tls` can run a handshake over any
 * channel. Reads start at 1 KiB and grow to 256 KiB under bulk traffic (an idle connection
 * keeps only a small read pending); what Node buffers for writing leaves in one `write()` on
 * the channel (TLS records are at most 16 KiB each). Ending the duplex shuts down the channel's
 * write side; destroying it closes the channel and waits for its pending read to settle.
 */
export function channelToDuplex(channel: ByteChannel): Duplex {
  const readSize = new AdaptiveReadSize(DUPLEX_READ_SIZE);
  let buffer = new Uint8Array(readSize.next);
  /** Reused to join the chunks of one `writev()`; they are written before the next one. */
  let joined: Uint8Array | undefined;
  /**
   * The read loop: `idle`, `running`, or `running` with another `_read()` asked for meanwhile
   * (`wanted`: it goes on past a full buffer). The state changes in the same step as the loop
   * ends, so a `_read()` made just after it stopped always starts it again: Node calls
   * `_read()` once per push, and one it ignored would stall the stream for good.
   */
  let loop: PumpState = "idle";
  /** The running loop, which `destroy` waits for. */
  let pumping: Promise<void> | undefined;
  const duplex: Duplex = new Duplex({
    readableHighWaterMark: DUPLEX_READ_SIZE,
    read(): void {
      if (loop === "idle") pumping = pump();
      else loop = "wanted";
    },
    write(chunk: Uint8Array, _encoding: string, callback: (error?: Error | null) => void): void {
      writeAll(channel, chunk).then(() => callback(), callback);
    },
    writev(
      chunks: { chunk: Uint8Array }[],
      callback: (error?: Error | null) => void,
    ): void {
      let size = 0;
      for (const { chunk } of chunks) size += chunk.byteLength;
      if (joined === undefined || joined.byteLength < size) {
        joined = new Uint8Array(Math.max(size, joined?.byteLength ?? 0, 16 * 1024));
      }
      let offset = 0;
      for (const { chunk } of chunks) {
        joined.set(chunk, offset);
        offset += chunk.byteLength;
      }
      writeAll(channel, joined.subarray(0, size)).then(() => callback(), callback);
    },
    final(callback: (error?: Error | null) => void): void {
      channel.closeWrite().then(() => callback(), callback);
    },
    destroy(error: Error | null, callback: (error?: Error | null) => void): void {
      try {
        channel.close();
      } catch {
        // Already closed.
      }
      (pumping ?? Promise.resolve()).then(() => callback(error));
    },
  });
  async function pump(): Promise<void> {
    loop = "running";
    try {
      while (!duplex.destroyed) {
        if (buffer.byteLength !== readSize.next) buffer = new Uint8Array(readSize.next);
        const n = await channel.read(buffer);
        if (n === null) {
          duplex.push(null);
          return;
        }
        readSize.record(n, buffer.byteLength);
        const more = duplex.push(buffer.slice(0, n));
        // (read() may have set it during the push: the cast keeps TypeScript from narrowing.)
        if (!more && (loop as PumpState) !== "wanted") return;
        loop = "running";
      }
    } catch (error) {
      if (!duplex.destroyed) duplex.destroy(error as Error);
    } finally {
      loop = "idle";
    }
  }
  return duplex;
}

/** Writes all of `data`, continuing short writes. */
export async function writeAll(channel: ByteChannel, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.byteLength) {
    offset += await channel.write(offset === 0 ? data : data.subarray(offset));
  }
}

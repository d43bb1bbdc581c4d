import { type ByteChannel, remoteHostname } from "./byte_channel.ts";
import { CallbackError, deliverError, describePeer } from "./callback_error.ts";
import { type DeadlineError, TransportError, transportError } from "./errors.ts";
import {
  type BudgetOption,
  type FlowSignal,
  WRITE_BUDGET,
  WriteFlowControl,
} from "./flow_control.ts";
import type { BufferedProtocol, Protocol, StreamProtocolLike } from "./protocols.ts";
import type { StartTlsOptions } from "./tls_options.ts";
import { startTlsClient, startTlsServer } from "./tls_upgrade.ts";
import { IdleTimer } from "./idle_timer.ts";
import { DeadlineClock, type Deadlines } from "./deadline_clock.ts";
import { AdaptiveReadSize } from "./read_size.ts";
import type { ExtraInfo, Transport, WriteBufferLimits } from "./types.ts";
import { WriteQueue } from "./write_queue.ts";

/** The default largest read: 256 KiB per `read()` (reads start at 8 KiB and grow to it). */
export const DEFAULT_READ_SIZE = 256 * 1024;

/** Options of a {@linkcode StreamTransport}. */
export interface StreamTransportOptions {
  /** Facts for `getExtraInfo()`, added to those read off the channel. */
  extra?: ExtraInfo;
  /**
   * The write buffer watermarks.
   *
   * @default {{ high: 65536, low: 16384 }}
   */
  writeBufferLimits?: Partial<WriteBufferLimits>;
  /**
   * The most bytes the write buffer may hold (`Infinity`: no cap). A `write()` that would take
   * it past this is refused: the transport aborts with a {@linkcode WriteBufferOverflowError}
   * (`Write buffer 67108900 bytes exceeds maxWriteBuffer 67108864; the peer is not reading`),
   * `connectionLost()` receives it and the data is dropped, as every later write is: check
   * `isClosing()` to stop a writing loop.
   * A protocol that honours `pauseWriting()` stays near the high watermark and never meets
   * it; one that ignores it, facing a peer that does not read, would otherwise grow without
   * bound. The default lets one write of a 64 MiB message through; `Server` connections
   * default to a tighter cap plus a budget across all of them.
   *
   * @default {67108864}
   */
  maxWriteBuffer?: number;
  /**
   * The largest read, in bytes. Reads start at 8 KiB and double whenever one fills its buffer,
   * so bulk transfers read this much at a time while idle connections stay small. The current
   * size is the hint given to a `BufferedProtocol`'s `getBuffer()`.
   *
   * @default {262144}
   */
  readSize?: number;
  /**
   * Milliseconds without progress — nothing received and nothing written — after which the
   * transport aborts with a {@linkcode TransportError} (`Connection idle for 30000 ms`). It
   * closes peers that connect and then stall (slowloris). The clock stops only while the
   * application holds the connection still (reading paused, nothing left to write); a peer
   * that stops reading our data does not stop it.
   *
   * @default {no limit}
   */
  idleTimeout?: number;
  /**
   * Deadlines that bound a frame's and a request's total time, not only silence (slowloris
   * trickles a byte at a time and is never idle): `firstFrameTimeout`, `frameTimeout`,
   * `requestTimeout`, each in ms, `Infinity` for none. They run only under a framed protocol,
   * through {@linkcode StreamTransport.deadlineClock}; the first two close the connection with
   * a {@linkcode DeadlineError}, after the framed layer's `limitExceeded` hook could tell the
   * peer why (see {@linkcode Deadlines}).
   *
   * @default {none; Server connections: 30000, 30000 and 300000}
   */
  deadlines?: Deadlines;
  /**
   * Called with errors a protocol callback threw when there is no connection left to end with
   * them — a throwing `connectionLost()` — as a {@linkcode CallbackError} naming the callback
   * and the connection. Errors from the other callbacks abort the connection and reach
   * `connectionLost()` instead. Never `reportError()`: that would end the process.
   *
   * @default {log with console.error}
   */
  onError?: (error: Error) => void;
}

/**
 * A transport over a bidirectional byte channel: TCP, Unix and TLS `Deno.Conn`s, the in-memory
 * pair, or any {@linkcode ByteChannel}.
 *
 * It reads in chunks that grow to 256 KiB under bulk traffic (starting at 8 KiB, so idle
 * connections stay cheap) and calls its protocol; for a `Protocol` each chunk is copied out of
 * one reused read buffer, for a `BufferedProtocol` the read goes straight into the protocol's
 * buffer. Writes are queued with byte-accurate flow control and coalesced:
 * everything written in one turn leaves in one `write()` on the channel, and short writes are
 * continued. It half-closes with `writeEof()` (`closeWrite()` on the channel), never through
 * Deno's `readable`/`writable`, which close the whole connection.
 *
 * The protocol's `connectionMade()` is called from the constructor, then reading starts.
 *
 * Lifecycle:
 *
 * | call or event              | what happens                                                  |
 * | -------------------------- | ------------------------------------------------------------- |
 * | `close()`                  | stop reading, flush the write buffer, close, `connectionLost()` |
 * | `abort()`                  | drop the write buffer, close now, `connectionLost()`          |
 * | `writeEof()`               | flush, then half-close; reading goes on                       |
 * | peer EOF                   | `eofReceived()`: `true` keeps writing open, else `close()`    |
 * | EOF both ways              | the transport closes itself                                   |
 * | read/write error, callback throws | abort; `connectionLost(error)`                         |
 *
 * A TCP reset from the peer fails the read (Deno 2.9.6 reports `ConnectionReset`, not end of
 * stream): `connectionLost()` gets a {@linkcode TransportError} (`Read failed: ...`) whose
 * `cause` is the `Deno.errors.ConnectionReset`. A reset that follows the peer's FIN is seen as
 * end of stream, and as a `BrokenPipe` on a later write.
 *
 * @example Echo over the in-memory pair
 * ```ts
 * import { createMemoryChannelPair, StreamTransport, type Transport } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = createMemoryChannelPair();
 * let echoTransport: Transport | undefined;
 * const echo = new StreamTransport(a, {
 *   connectionMade: (t) => echoTransport = t,
 *   dataReceived: (data) => echoTransport!.write(data),
 * });
 * const received: string[] = [];
 * const client = new StreamTransport(b, {
 *   dataReceived: (data) => received.push(new TextDecoder().decode(data)),
 * });
 * client.write(new TextEncoder().encode("hello"));
 * client.writeEof();
 * await client.closed;
 * await echo.closed;
 * assertEquals(received.join(""), "hello");
 * ```
 */
export class StreamTransport implements Transport, AsyncDisposable {
  #channel: ByteChannel;
  readonly #protocol: StreamProtocolLike;
  readonly #bufferedProtocol: BufferedProtocol | undefined;
  readonly #extra: ExtraInfo;
  readonly #flow: WriteFlowControl;
  readonly #queue = new WriteQueue();
  readonly #readSize: AdaptiveReadSize;
  #readBuffer: Uint8Array | undefined;

  // Read side.
  #readPaused = false;
  #readInFlight = false;
  #readStopped = false;
  #eofReceived = false;
  #wakeReader: (() => void) | undefined;
  #readLoop: Promise<void> = Promise.resolve();

  // Write side.
  #flushing = false;
  #flushLoop: Promise<void> = Promise.resolve();
  #eofRequested = false;
  #eofSent = false;
  #drainWaiters: (() => void)[] = [];

  // TLS upgrade: writes made meanwhile wait here; reads are held.
  #held: Uint8Array[] | undefined;
  #upgrade: AbortController | undefined;
  #upgradeDone: Promise<void> = Promise.resolve();

  // Idle timeout: progress on either side touches it.
  readonly #idleTimeout: number | undefined;
  #idle: IdleTimer | undefined;
  /** The frame deadlines, when the `deadlines` option is given. */
  readonly deadlineClock: DeadlineClock | undefined;
  /** Why a deadline closes the connection gracefully: connectionLost() gets it. */
  #closeReason: DeadlineError | undefined;
  readonly #onError: ((error: Error) => void) | undefined;

  // Lifecycle.
  #closing = false;
  #finished = false;
  #droppedOnAbort = false;
  readonly #closed: Promise<Error | undefined>;
  readonly #resolveClosed: (error: Error | undefined) => void;

  /**
   * Creates the transport, calls `protocol.connectionMade(this)` and starts reading.
   *
   * @param channel The connection to drive; the transport owns it from now on.
   * @param protocol The protocol to call.
   * @param options Extra info, watermarks and read size.
   */
  constructor(
    channel: ByteChannel,
    protocol: StreamProtocolLike,
    options?: StreamTransportOptions,
  ) {
    options ??= {};
    this.#channel = channel;
    this.#protocol = protocol;
    this.#bufferedProtocol = typeof (protocol as Partial<BufferedProtocol>).getBuffer === "function"
      ? protocol as BufferedProtocol
      : undefined;
    this.#extra = {
      sockname: channel.localAddr,
      peername: channel.remoteAddr,
      conn: channel,
      tls: false,
      ...options.extra,
    };
    this.#flow = new WriteFlowControl(options.writeBufferLimits, {
      maxWriteBuffer: options.maxWriteBuffer,
      budget: (options as BudgetOption)[WRITE_BUDGET],
      abort: (error) => this.#fail(error),
    });
    this.#readSize = new AdaptiveReadSize(options.readSize ?? DEFAULT_READ_SIZE);
    this.#idleTimeout = options.idleTimeout;
    this.deadlineClock = options.deadlines && new DeadlineClock(options.deadlines, {
      waitingOnApplication: () => this.#readPaused && this.#flow.size === 0,
      close: (error) => {
        this.#closeReason ??= error;
        this.close();
      },
      abort: (error) => this.#closeNow(error),
    });
    this.#onError = options.onError;
    const { promise, resolve } = Promise.withResolvers<Error | undefined>();
    this.#closed = promise;
    this.#resolveClosed = resolve;
    try {
      protocol.connectionMade?.(this);
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (this.#readStopped) return;
    this.#readLoop = this.#runReadLoop();
    if (this.#idleTimeout !== undefined) {
      const timeout = this.#idleTimeout;
      this.#idle = new IdleTimer(timeout, {
        waitingOnApplication: () => this.#readPaused && this.#flow.size === 0,
        expired: () => this.#fail(new TransportError(`Connection idle for ${timeout} ms`)),
      });
    }
  }

  /** Resolves after `connectionLost()`, with its error; never rejects. */
  get closed(): Promise<Error | undefined> {
    return this.#closed;
  }

  getExtraInfo<K extends keyof ExtraInfo>(
    name: K,
    defaultValue?: ExtraInfo[K],
  ): ExtraInfo[K] | undefined {
    // A stored `null` (no ALPN protocol, no SNI name) is an answer, not a missing fact.
    const value = this.#extra[name];
    return value === undefined ? defaultValue : value;
  }

  isClosing(): boolean {
    return this.#closing;
  }

  // ---- Reading -------------------------------------------------------------------------------

  isReading(): boolean {
    return !this.#readPaused && !this.#readStopped;
  }

  pauseReading(): void {
    if (!this.#closing) this.#readPaused = true;
  }

  resumeReading(): void {
    if (!this.#readPaused) return;
    this.#readPaused = false;
    this.#idle?.touch();
    this.#wake();
  }

  async #runReadLoop(): Promise<void> {
    const buffered = this.#bufferedProtocol;
    const plain = this.#protocol as Protocol;
    for (;;) {
      while ((this.#readPaused || this.#held) && !this.#readStopped) await this.#sleep();
      if (this.#readStopped) return;
      let target: Uint8Array;
      try {
        const size = this.#readSize.next;
        if (buffered) target = buffered.getBuffer(size);
        else if (this.#readBuffer?.byteLength === size) target = this.#readBuffer;
        else target = this.#readBuffer = new Uint8Array(size);
        if (target.byteLength === 0) throw new RangeError("getBuffer() returned an empty buffer");
      } catch (error) {
        this.#fail(error);
        return;
      }
      let n: number | null;
      this.#readInFlight = true;
      try {
        n = await this.#channel.read(target);
      } catch (error) {
        if (!this.#readStopped) this.#fail(transportError("Read failed", error));
        return;
      } finally {
        this.#readInFlight = false;
      }
      if (n !== null) this.#readSize.record(n, target.byteLength);
      this.#idle?.touch();
      // Data that arrived after pauseReading() waits for resumeReading(); no read meanwhile.
      while (this.#readPaused && !this.#readStopped) await this.#sleep();
      if (this.#readStopped) return;
      try {
        if (n === null) {
          this.#onEof();
          return;
        }
        if (buffered) buffered.bufferUpdated(n);
        else plain.dataReceived(target.slice(0, n));
      } catch (error) {
        this.#fail(error);
        return;
      }
    }
  }

  #onEof(): void {
    this.#readStopped = true;
    const keepOpen = this.#protocol.eofReceived?.();
    if (keepOpen !== true) {
      this.close();
      return;
    }
    this.#eofReceived = true;
    if (this.#eofSent) this.#closeNow(undefined, true);
  }

  #sleep(): Promise<void> {
    return new Promise((resolve) => this.#wakeReader = resolve);
  }

  #wake(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
  }

  // ---- Writing -------------------------------------------------------------------------------

  write(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`Cannot write ${typeof data}: expected a Uint8Array`);
    }
    // Closing or lost: dropped, as asyncio does. connectionLost() tells the protocol, and a late
    // reply (from a timer, a promise) cannot throw into code that outlived its connection.
    if (this.#closing) return;
    if (this.#eofRequested) throw new TransportError("Cannot write after writeEof()");
    const size = data.byteLength;
    if (size === 0) return;
    const overflow = this.#flow.refuse(size);
    if (overflow) {
      this.#fail(overflow);
      return;
    }
    if (this.#held) {
      this.#held.push(data);
    } else {
      this.#queue.push(data);
      if (!this.#flushing) this.#startFlush();
    }
    this.#signal(this.#flow.add(size));
    this.#flow.enforceBudget();
  }

  writeLines(chunks: Iterable<Uint8Array>): void {
    for (const chunk of chunks) this.write(chunk);
  }

  writeEof(): void {
    if (this.#closing || this.#eofRequested) return;
    this.#eofRequested = true;
    if (!this.#flushing && !this.#held) this.#startFlush();
  }

  canWriteEof(): boolean {
    return true;
  }

  getWriteBufferSize(): number {
    return this.#flow.size;
  }

  getWriteBufferLimits(): WriteBufferLimits {
    return this.#flow.limits;
  }

  setWriteBufferLimits(limits?: Partial<WriteBufferLimits>): void {
    this.#signal(this.#flow.setLimits(limits));
  }

  #startFlush(): void {
    this.#flushing = true;
    this.#flushLoop = this.#flush();
  }

  async #flush(): Promise<void> {
    // Let the rest of this turn's writes join the first conn.write.
    await undefined;
    try {
      for (let chunk = this.#queue.take(); chunk; chunk = this.#queue.take()) {
        let offset = 0;
        while (offset < chunk.byteLength) {
          const n = await this.#channel.write(offset === 0 ? chunk : chunk.subarray(offset));
          if (this.#finished) return;
          offset += n;
          this.#idle?.touch();
          this.#signal(this.#flow.written(n));
          if (this.#finished) return;
        }
        this.#flow.release(chunk.byteLength);
      }
      // During a TLS upgrade, EOF and close wait for the handshake (see #runUpgrade).
      if (this.#eofRequested && !this.#eofSent && !this.#held) {
        await this.#channel.closeWrite();
        this.#eofSent = true;
      }
    } catch (error) {
      if (!this.#finished) this.#fail(transportError("Write failed", error));
      return;
    } finally {
      this.#flushing = false;
      if (this.#drainWaiters.length > 0) {
        for (const resolve of this.#drainWaiters.splice(0)) resolve();
      }
    }
    if (this.#finished || this.#held) return;
    if (this.#closing || (this.#eofSent && this.#eofReceived)) this.#closeNow(undefined, true);
  }

  /**
   * Resolves once everything written so far has been handed to the socket — and, after
   * `writeEof()`, once the write side is shut down. Rejects with the transport's error if the
   * connection is lost first, or with a {@linkcode TransportError} if it was aborted with data
   * still buffered.
   *
   * @example Wait for a reply to leave before closing
   * ```ts
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   *
   * const [a, b] = createMemoryTransportPair({ dataReceived() {} }, { dataReceived() {} });
   * a.write(new TextEncoder().encode("bye"));
   * a.writeEof();
   * await a.flushed();
   * a.close();
   * b.close();
   * await Promise.all([a.closed, b.closed]);
   * ```
   */
  async flushed(): Promise<void> {
    while ((this.#flushing || this.#held) && !this.#finished) await this.#drained();
    if (!this.#finished) return;
    const error = await this.#closed;
    if (error) throw error;
    if (this.#droppedOnAbort) {
      throw new TransportError("Cannot flush: the transport was aborted with data buffered");
    }
  }

  /** Resolves when the write queue is empty and no write is in flight. */
  #drained(): Promise<void> {
    if (!this.#flushing) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #signal(signal: FlowSignal): void {
    if (signal === undefined) return;
    try {
      if (signal === "pause") this.#protocol.pauseWriting?.();
      else this.#protocol.resumeWriting?.();
    } catch (error) {
      this.#fail(error);
    }
  }

  // ---- TLS -----------------------------------------------------------------------------------

  /**
   * Upgrades the open connection to TLS (STARTTLS). Data written before the call goes out in
   * plaintext first; data written while the handshake runs waits and goes out encrypted.
   *
   * No read may be in flight, since Deno cannot take over a socket with a pending read: call
   * it from `dataReceived()` (the usual place, right after the peer's go-ahead), or call
   * `pauseReading()` there and upgrade later. The client side uses `Deno.startTls` on TCP
   * connections; the server side (`serverSide: true`) runs `node:tls` over the connection, since
   * Deno has no server-side `startTls`.
   *
   * A failed upgrade aborts the transport: `connectionLost()` receives the error and the
   * returned promise rejects with it (that rejection is never reported as unhandled, so the
   * call may be left unawaited). `close()` during the handshake abandons the upgrade and
   * drops the data held for it.
   *
   * TLS cannot be unwrapped back to plaintext on Deno: see {@linkcode StreamTransport.unwrapTls}.
   *
   * @param options Client options (`serverHostname`, `caCerts`, `alpnProtocols`, ...) or
   * server options (`serverSide: true`, `cert`, `key`, `alpnProtocols`).
   * @throws {TransportError} At once when the transport is closing, half-closed, already
   * encrypted, already upgrading, or has a read in flight; as a rejection when the handshake
   * fails.
   */
  startTls(options: StartTlsOptions): Promise<void> {
    this.#checkCanStartTls();
    this.#held = [];
    const upgrade = new AbortController();
    this.#upgrade = upgrade;
    const done = this.#runUpgrade(options, upgrade.signal);
    // A failure also reaches connectionLost(): callers from dataReceived() need not await.
    this.#upgradeDone = done.then(() => {}, () => {});
    return done;
  }

  /**
   * Always throws: Deno has no way to return a TLS connection to plaintext (no `unwrap` of a
   * `TlsConn`, and `node:tls` cannot release its socket either). Close the connection instead.
   *
   * @throws {TransportError} Always.
   */
  unwrapTls(): never {
    throw new TransportError(
      "Cannot unwrap TLS: Deno cannot return a TLS connection to plaintext; close it instead",
    );
  }

  /**
   * Replaces the connection's channel with what `wrap` makes of it: Tendril's `wrap()`, for a
   * wrapper (TLS, say) chosen per connection once it is accepted. As with
   * {@linkcode StreamTransport.startTls}, no read may be in flight (call it from
   * `connectionMade()` with reading paused, or from `dataReceived()`), data written before
   * the call goes out on the old channel first, data written meanwhile waits for the new one,
   * and a failure aborts the transport (`connectionLost()` gets the error).
   *
   * @param wrap Gets the current channel (the new one owns it from then on), an object for
   * facts to add to `getExtraInfo()`, and a signal that aborts when the transport closes;
   * returns the channel to use from now on.
   * @returns Resolves once the new channel is in use.
   * @throws {TransportError} At once when the transport is closing, half-closed, upgrading,
   * or has a read in flight; as a rejection when `wrap` fails.
   *
   * @example Wrap a channel in a byte-counting layer
   * ```ts
   * import { type ByteChannel, createMemoryChannelPair, StreamTransport } from "@plexus/net/transport";
   *
   * const [a, b] = createMemoryChannelPair();
   * let written = 0;
   * const counting = (inner: ByteChannel): ByteChannel => ({
   *   read: (p) => inner.read(p),
   *   write: async (p) => {
   *     const n = await inner.write(p);
   *     written += n;
   *     return n;
   *   },
   *   closeWrite: () => inner.closeWrite(),
   *   close: () => inner.close(),
   *   get closed() { return inner.closed; },
   *   localAddr: inner.localAddr,
   *   remoteAddr: inner.remoteAddr,
   * });
   * const peer = new StreamTransport(b, { dataReceived() {} });
   * const transport = new StreamTransport(a, {
   *   connectionMade: (t) => t.pauseReading(),
   *   dataReceived() {},
   * });
   * await transport.wrapChannel((channel) => counting(channel));
   * transport.write(new Uint8Array(3));
   * await transport.flushed();
   * console.assert(written === 3);
   * transport.close();
   * peer.close();
   * await Promise.all([transport.closed, peer.closed]);
   * ```
   */
  wrapChannel(
    wrap: (
      channel: ByteChannel,
      extra: ExtraInfo,
      signal: AbortSignal,
    ) => ByteChannel | Promise<ByteChannel>,
  ): Promise<void> {
    let reason: string | undefined;
    if (this.#closing) reason = "the transport is closing";
    else if (this.#held) reason = "an upgrade is already in progress";
    else if (this.#eofRequested || this.#eofReceived) reason = "the transport is half-closed";
    else if (this.#readInFlight) {
      reason = "a read is in flight; call wrapChannel() with reading paused, or from " +
        "dataReceived()";
    }
    if (reason) throw new TransportError(`Cannot wrap the connection: ${reason}`);
    this.#held = [];
    const upgrade = new AbortController();
    this.#upgrade = upgrade;
    const done = this.#runWrap(wrap, upgrade.signal);
    this.#upgradeDone = done.then(() => {}, () => {});
    return done;
  }

  async #runWrap(
    wrap: (
      channel: ByteChannel,
      extra: ExtraInfo,
      signal: AbortSignal,
    ) => ByteChannel | Promise<ByteChannel>,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await this.#drained();
      if (this.#finished) throw new TransportError("Cannot wrap the connection: it closed");
      const extra: ExtraInfo = {};
      const channel = await wrap(this.#channel, extra, signal);
      if (this.#finished) {
        try {
          channel.close();
        } catch {
          // closed already along with the old channel
        }
        throw new TransportError("Cannot wrap the connection: it closed");
      }
      this.#channel = channel;
      Object.assign(this.#extra, extra, { conn: channel });
    } catch (error) {
      const failure = transportError("Wrapping the connection failed", error);
      this.#fail(failure);
      throw failure;
    } finally {
      this.#upgrade = undefined;
    }
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const chunk of held) this.#queue.push(chunk);
    if (!this.#queue.empty || this.#eofRequested || this.#closing) this.#startFlush();
    this.#wake();
  }

  #checkCanStartTls(): void {
    let reason: string | undefined;
    if (this.#closing) reason = "the transport is closing";
    else if (this.#extra.tls) reason = "the transport already uses TLS";
    else if (this.#held) reason = "an upgrade is already in progress";
    else if (this.#eofRequested || this.#eofReceived) reason = "the transport is half-closed";
    else if (this.#readInFlight) {
      reason = "a read is in flight; call startTls() from dataReceived(), or pauseReading() " +
        "there and call it later";
    }
    if (reason) throw new TransportError(`Cannot start TLS: ${reason}`);
  }

  async #runUpgrade(options: StartTlsOptions, signal: AbortSignal): Promise<void> {
    try {
      await this.#drained();
      if (this.#finished) throw new TransportError("Cannot start TLS: the transport closed");
      const serverHostname = options.serverSide
        ? undefined
        : options.serverHostname ?? remoteHostname(this.#channel);
      const result = options.serverSide
        ? await startTlsServer(this.#channel, { ...options, signal })
        : await startTlsClient(this.#channel, {
          ...options,
          serverHostname: serverHostname!,
          signal,
        });
      if (this.#finished) {
        result.channel.close();
        throw new TransportError("Cannot start TLS: the transport closed");
      }
      this.#channel = result.channel;
      Object.assign(this.#extra, {
        tls: true,
        conn: result.channel,
        alpnProtocol: result.alpnProtocol,
        serverHostname,
        tlsVersion: result.tlsVersion,
        serverName: result.serverName,
      });
    } catch (error) {
      const failure = transportError("TLS upgrade failed", error);
      this.#fail(failure);
      throw failure;
    } finally {
      this.#upgrade = undefined;
    }
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const chunk of held) this.#queue.push(chunk);
    if (!this.#queue.empty || this.#eofRequested || this.#closing) this.#startFlush();
    this.#wake();
  }

  // ---- Closing -------------------------------------------------------------------------------

  close(): void {
    if (this.#closing) return;
    if (this.#held) {
      // Mid-upgrade: what is held cannot be sent in plaintext; give the upgrade up.
      this.#closeNow();
      return;
    }
    this.#closing = true;
    this.#readStopped = true;
    this.#wake();
    if (!this.#flushing) this.#closeNow(undefined, true);
  }

  abort(error?: Error): void {
    this.#closeNow(error);
  }

  /** Closes the transport and waits for `connectionLost()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#closed;
  }

  #fail(error: unknown): void {
    this.#closeNow(error instanceof Error ? error : new Error(String(error)));
  }

  /**
   * Closes the channel now; `connectionLost()` follows once every loop has stopped. `graceful`
   * (the write buffer was flushed) lets the channel end its stream in order (a TLS
   * `close_notify`); otherwise a channel that can tell the two apart is aborted.
   */
  #closeNow(error: Error | undefined = this.#closeReason, graceful = false): void {
    if (this.#finished) return;
    this.#droppedOnAbort = !this.#queue.empty || (this.#held?.length ?? 0) > 0 ||
      (this.#eofRequested && !this.#eofSent);
    this.#finished = true;
    this.#closing = true;
    this.#readStopped = true;
    this.#queue.clear();
    this.#held = undefined;
    this.#flow.clear();
    this.#upgrade?.abort(new TransportError("Cannot finish the TLS upgrade: the transport closed"));
    this.#idle?.stop();
    this.deadlineClock?.stop();
    this.#wake();
    const channel = this.#channel;
    try {
      if (!graceful && channel.abort) channel.abort();
      else channel.close();
    } catch {
      // Already closed (for example consumed by a failed Deno.startTls).
    }
    Promise.allSettled([this.#readLoop, this.#flushLoop, this.#upgradeDone, channel.closed]).then(
      () => {
        try {
          this.#protocol.connectionLost?.(error);
        } catch (callbackError) {
          const peer = describePeer(this.#extra.peername);
          deliverError(this.#onError, new CallbackError("connectionLost", peer, callbackError));
        }
        this.#resolveClosed(error);
      },
    );
  }
}

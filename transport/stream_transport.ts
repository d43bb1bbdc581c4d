import { type ByteChannel, remoteHostname } from "./byte_channel.ts";
import { describePeer } from "./callback_error.ts";
import { TransportError, transportError } from "./errors.ts";
import {
  type BudgetOption,
  deliverFlowSignal,
  type FlowSignal,
  WRITE_BUDGET,
  WriteFlowControl,
} from "./_flow_control.ts";
import type { BufferedProtocol, Protocol, StreamProtocolLike } from "./protocols.ts";
import type { StartTlsOptions } from "./tls_options.ts";
import { startTlsClient, startTlsServer } from "./_tls_upgrade.ts";
import { checkIdleTimeout, IdleTimer } from "./_idle_timer.ts";
import { checkDelay } from "./_delay.ts";
import { linkCancellation } from "./_cancellation.ts";
import { checkDeadlines, DeadlineClock, type Deadlines } from "./deadline_clock.ts";
import { AdaptiveReadSize } from "./_read_size.ts";
import type { ExtraInfo, Transport, WriteBufferLimits } from "./types.ts";
import { SendBuffer } from "./send_buffer.ts";
import { CLOSED_HOOK, Lifecycle, type LifecycleHookOptions, OPENING_HOOK } from "./_lifecycle.ts";
import { defaultTraceName } from "./_trace.ts";
import { ReadSlab } from "./_read_slab.ts";
import {
  canReset,
  LingeringClose,
  lingerTimeoutOf,
  SOCKET_ADDRESS,
  type SocketAddressExtra,
} from "./_linger.ts";
import { LINGERING } from "./_close_grace.ts";
import { WRITE_ENDING, type WriteEndingProtocol } from "./_write_ending.ts";
import type { Counters } from "./_stats.ts";
import { type CloseReason, closeReasonOf, type TransportStats } from "./stats.ts";

/** The default largest read: 256 KiB per `read()` (reads start at 1 KiB and grow to it). */
export const DEFAULT_READ_SIZE = 256 * 1024;

/** Options of a {@linkcode StreamTransport}. */
export interface StreamTransportOptions {
  /** Facts for `getExtraInfo()`, added to those read off the channel. */
  extra?: ExtraInfo;
  /**
   * The connection's name in trace events (`getExtraInfo("name")`; see `subscribe`).
   *
   * @default {the protocol's `connectionName`, else the peer's `host:port` (or socket path)}
   */
  name?: string;
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
   * The largest read, in bytes. Reads start at 1 KiB and double whenever one fills its buffer,
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
   * peer why (see {@linkcode Deadlines}). An `abort()` during that close only hurries it:
   * `connectionLost()` still gets the `DeadlineError`, and the close reason is `"deadline"`.
   *
   * @default {none; Server connections: 30000, 30000 and 300000}
   */
  deadlines?: Deadlines;
  /**
   * Hand a plain `Protocol` each chunk as a view into one reused read buffer, valid only until
   * `dataReceived()` returns (copy what you keep), instead of a view into memory that is never
   * reused. Saves an allocation every few reads for protocols that parse each chunk at once.
   * A `BufferedProtocol` reads into its own buffer and ignores this. Do not hand such a view
   * to `write()` as it is (an echo): a write of 64 KiB or more is queued by reference and
   * would be overwritten by the next read; write a copy.
   *
   * @default {false}
   */
  reuseReadBuffer?: boolean;
  /**
   * Milliseconds a graceful close (`close()`, a closing deadline or answered error, a
   * server's drain) may linger for the peer's EOF when the peer has not ended its stream, as
   * nginx's `lingering_close`: once everything written is handed to the socket, the write
   * side is shut down (a FIN after the data) and what the peer still sends is read and
   * dropped until its EOF, then the socket closes. Closing a TCP socket at once with unread
   * bytes — a peer still sending requests, pipelined or cancelled — makes Linux send a reset
   * instead of a FIN and drop what has not left yet, so the peer loses the last answers (a
   * Unix socket's peer reads a reset instead of the end). Past the timeout the socket closes
   * anyway, and `abort()` ends the lingering at once. `connectionLost()` and `closed` come
   * once the socket is closed: a peer that closes on our EOF (Plexus protocols do by default;
   * a `StreamProtocol` keeps writing open until its writable is closed) costs one round trip
   * more. A protocol's own grace for the flush of its last words (an answered bad frame, a
   * give-up) ends once they are flushed; an owner's abort (a server's drain timeout) still
   * cuts the lingering. Never used after the peer's EOF was read, by `abort()` and errors,
   * or on in-memory and stream channels (they cannot reset). 0 closes at once, as asyncio,
   * Netty and tokio do; a `Server`'s connections linger by default, where clients still
   * sending are common (a drain, a deadline, an answered bad frame). TLS over `node:tls`
   * (TLS servers, server-side STARTTLS) lingers on the socket under it.
   *
   * @default {0; Server connections: 2000}
   */
  lingerTimeout?: number;
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

/** Options of {@linkcode StreamTransport.wrapChannel}. */
export interface WrapChannelOptions {
  /**
   * Milliseconds `wrap` may take, as `handshakeTimeout` bounds a `startTls()` handshake (the
   * clock starts once the bytes written before the call are out). Past it the signal given to
   * `wrap` aborts, the transport is aborted and `connectionLost()` gets a
   * {@linkcode TransportError} (`Wrapping the connection timed out after 5000 ms (timeout)`,
   * its `cause` a `TimeoutError`); a channel `wrap` returns later is closed. A wrapper that
   * waits on the peer (a handshake of its own) needs one: reads are held meanwhile, so
   * neither `idleTimeout` nor the frame deadlines see a peer that stalls it.
   *
   * @default {Infinity: no limit}
   */
  timeout?: number;
}

/**
 * Checks the options a {@linkcode StreamTransport} checks when it is made (`writeBufferLimits`,
 * `maxWriteBuffer`, `readSize`, `lingerTimeout`, `idleTimeout`, `deadlines`), for an owner
 * that makes transports with them later: a `Server` throws when it is made, not once per
 * connection it accepts, and `createConnection` before it dials.
 *
 * @throws {RangeError} As the constructor does.
 */
export function checkStreamTransportOptions(options: StreamTransportOptions): void {
  new WriteFlowControl(options.writeBufferLimits, { maxWriteBuffer: options.maxWriteBuffer });
  new AdaptiveReadSize(options.readSize ?? DEFAULT_READ_SIZE);
  lingerTimeoutOf(options.lingerTimeout);
  if (options.idleTimeout !== undefined) checkIdleTimeout(options.idleTimeout);
  if (options.deadlines) checkDeadlines(options.deadlines); // as the constructor reads it
}

/** The read side of a {@linkcode StreamTransport} (see its state table). */
type ReadState = "reading" | "paused" | "eof" | "stopped";
/** The write side of a {@linkcode StreamTransport} (see its state table). */
type WriteState = "open" | "eof-requested" | "eof-sent";
/** The flush of a {@linkcode StreamTransport} (see its state table). */
type FlushState = "idle" | "armed" | "running";
/** Where the read loop of a {@linkcode StreamTransport} is. */
type ReadStep = "idle" | "reading" | "held" | "delivering";

/**
 * The send buffer's first block (256 bytes): an idle connection holds no more for writing. It
 * grows with the batches written (sized to the last one, up to 1 MiB) and is reused from then
 * on, until a run of small batches lets a block grown for a burst go. Measured against 1 KiB
 * with 10 000 held connections: server RSS 180 → 171 MiB.
 */
const SEND_BLOCK_SIZE = 256;
/** The loops' promise before they start: one shared settled promise, not three per connection. */
const SETTLED: Promise<void> = Promise.resolve();

/**
 * A transport over a bidirectional byte channel: TCP, Unix and TLS `Deno.Conn`s, the in-memory
 * pair, or any {@linkcode ByteChannel}.
 *
 * It reads in chunks that grow to 256 KiB under bulk traffic (starting at 1 KiB, so idle
 * connections stay cheap) and calls its protocol. A `Protocol` gets each chunk as a view into a
 * read slab that is never reused (a new slab is made when the free tail of the current one holds
 * less than half a read and less than 16 KiB, or the slab is more than four reads large: the
 * burst that grew the reads is over), so chunks stay valid and nothing is copied; with
 * `reuseReadBuffer` it gets a view into one reused buffer instead, valid during the call. For a
 * `BufferedProtocol` the read goes straight into the protocol's buffer.
 *
 * Writes go through one write buffer, {@linkcode StreamTransport.out}: `write()` appends and
 * commits (a chunk of 64 KiB or more is queued by reference, not copied), encoders append to
 * `out` themselves and call `commit()`. Flow control is byte-accurate and everything committed
 * in one turn leaves in one `write()` on the channel (big batches in pieces of about 256 KiB);
 * short writes are continued. It half-closes with `writeEof()` (`closeWrite()` on the
 * channel), never through Deno's `readable`/`writable`, which close the whole connection.
 *
 * The protocol's `connectionMade()` is called from the constructor, then reading starts.
 *
 * Lifecycle:
 *
 * | call or event              | what happens                                                  |
 * | -------------------------- | ------------------------------------------------------------- |
 * | `close()`                  | stop reading, flush, linger for the peer's EOF, close, `connectionLost()` |
 * | `abort()`                  | drop the write buffer, close now, `connectionLost()`          |
 * | `writeEof()`               | flush, then half-close; reading goes on                       |
 * | peer EOF                   | `eofReceived()`: `true` keeps writing open, else `close()`    |
 * | EOF both ways              | the transport closes itself                                   |
 * | read/write error, callback throws | abort; `connectionLost(error)`                         |
 *
 * The state behind it is four named states and an upgrade in progress (no other flags but
 * where the read loop is: a read in flight, its bytes held while paused, or being delivered):
 *
 * | side      | state             | entered by                                 | left by                       |
 * | --------- | ----------------- | ------------------------------------------ | ----------------------------- |
 * | read      | `"reading"`       | the constructor, `resumeReading()`         | pause, EOF, closing           |
 * | read      | `"paused"`        | `pauseReading()` while reading             | `resumeReading()`, closing    |
 * | read      | `"eof"`           | peer EOF (kept while closing: no lingering) | finishing                    |
 * | read      | `"stopped"`       | `close()` before the peer's EOF, finishing | — (final)                     |
 * | write     | `"open"`          | the constructor                            | `writeEof()`                  |
 * | write     | `"eof-requested"` | `writeEof()`                               | the flush's `closeWrite()`    |
 * | write     | `"eof-sent"`      | `closeWrite()` done; with read `"eof"` the transport closes | — (final)    |
 * | lifecycle | `"open"`          | the constructor                            | `close()`, finishing          |
 * | lifecycle | `"closing"`       | `close()` with writes to flush             | the flush ends: finishing     |
 * | lifecycle | `"finished"`      | `abort()`, errors, flushed close, EOF both ways | — (`connectionLost()` once) |
 * | flush     | `"idle"`          | the constructor, nothing left to send      | a commit, `writeEof()`        |
 * | flush     | `"armed"`         | a commit in the read loop's callback       | the callback returns: running |
 * | flush     | `"running"`       | a commit elsewhere (a microtask later)     | nothing to send, finishing    |
 *
 * While a STARTTLS or `wrapChannel()` upgrade runs, reads are held (no read is issued, the read
 * state is kept), and bytes committed meanwhile stay in `out` until the new channel is in use.
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
 *
 * @example Encode straight into the write buffer
 * ```ts
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const got: number[] = [];
 * const [a, b] = createMemoryTransportPair({ dataReceived() {} }, {
 *   dataReceived: (data) => got.push(...data),
 * });
 * a.out.writeUint(2, 4); // a u32 length, then the payload
 * a.out.write(new Uint8Array([7, 8]));
 * a.commit();
 * a.writeEof();
 * await a.flushed();
 * a.close();
 * await b.closed;
 * assertEquals(got, [0, 0, 0, 2, 7, 8]);
 * ```
 */
export class StreamTransport implements Transport, AsyncDisposable {
  #channel: ByteChannel;
  readonly #protocol: StreamProtocolLike;
  readonly #bufferedProtocol: BufferedProtocol | undefined;
  readonly #extra: ExtraInfo;
  readonly #flow: WriteFlowControl;
  readonly #life: Lifecycle;
  /** The lifecycle's counters, updated on the read loop and the flush loop. */
  readonly #stats: Counters;
  /**
   * The transport's one write buffer: encoders append to it, {@linkcode StreamTransport.commit}
   * accounts for what they appended and schedules the flush.
   */
  readonly out: SendBuffer = new SendBuffer({ blockSize: SEND_BLOCK_SIZE });
  readonly #readSize: AdaptiveReadSize;
  /** Plain protocols: the slab reads go to (never reused), or the reused buffer. */
  readonly #slab: ReadSlab;

  #read: ReadState = "reading";
  #write: WriteState = "open";
  /** A read in flight, its bytes held while paused, being delivered to the protocol, or none. */
  #readStep: ReadStep = "idle";
  #wakeReader: (() => void) | undefined;
  #readLoop: Promise<void> = SETTLED;

  #flush: FlushState = "idle";
  #flushLoop: Promise<void> = SETTLED;
  /** The chunk being written by the flush, and how much of it is written. */
  #chunk: Uint8Array | undefined;
  #chunkWritten = 0;
  #drainWaiters: (() => void)[] = [];
  /** Bytes at the front of `out` that were committed and not yet handed to the channel. */
  #committed = 0;
  /** Of those, the bytes committed during an upgrade (the tail): they wait for its end. */
  #heldBytes = 0;
  /** `flushed()` calls waiting for their bytes: woken by every write and every drain. */
  #flushedWaiters: (() => void)[] = [];
  /**
   * Bytes {@linkcode StreamTransport.commit} may still take with nothing to check or signal.
   * A checked commit sets it (to the flow's quiet room: what keeps the buffer at or under the
   * high watermark — or, while writing is paused, the cap alone — and adds nothing to a shared
   * budget) while the write side is open, nothing closes or upgrades and the flush runs.
   * Whatever ends one of those, a pause or resume, or a change of limits sets it to 0, and the
   * next commit is checked again.
   */
  #quietRoom = 0;

  /** The STARTTLS / wrapChannel upgrade in progress: reads and new writes are held. */
  #upgrade: AbortController | undefined;
  #upgradeDone: Promise<void> = SETTLED;

  readonly #idleTimeout: number | undefined;
  #idle: IdleTimer | undefined;
  /** The `deadlines` option, checked; the clock is made when first asked for. */
  readonly #deadlines: Readonly<Required<Deadlines>> | undefined;
  #deadlineClock: DeadlineClock | undefined;
  /** The peer address the default trace name is made from, when first asked for. */
  readonly #namedPeer: Deno.Addr | undefined;
  /** Why a graceful close happens (a deadline, a framing error answered): connectionLost() gets it. */
  #closeReason: Error | undefined;
  #droppedOnAbort = false;
  readonly #lingerTimeout: number;
  /** The socket's address as the owner recorded it (see `SOCKET_ADDRESS`), for lingering. */
  readonly #socketAddress: Deno.Addr | undefined;
  /** A graceful close waiting for the peer's EOF before the channel closes. */
  #lingering: LingeringClose | undefined;

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
      // A Deno.TlsConn (Deno.connectTls, Deno.listenTls) is encrypted already.
      tls: typeof (channel as Partial<Deno.TlsConn>).handshake === "function",
      ...options.extra,
    };
    // The default name (`host:port`) is made when first asked for: most connections never are.
    this.#extra.name = options.name ?? options.extra?.name ?? protocol.connectionName;
    this.#namedPeer = channel.remoteAddr;
    this.#flow = new WriteFlowControl(options.writeBufferLimits, {
      maxWriteBuffer: options.maxWriteBuffer,
      budget: (options as BudgetOption)[WRITE_BUDGET],
      abort: (error) => this.#fail(error),
    });
    this.#readSize = new AdaptiveReadSize(options.readSize ?? DEFAULT_READ_SIZE);
    this.#slab = new ReadSlab(options.reuseReadBuffer ?? false);
    this.#idleTimeout = options.idleTimeout;
    this.#lingerTimeout = lingerTimeoutOf(options.lingerTimeout);
    this.#socketAddress = (options.extra as SocketAddressExtra | undefined)?.[SOCKET_ADDRESS];
    // Checked now (a bad option throws here); the clock itself is made only for a protocol
    // that asks for it (a framed one): a plain Protocol's connection never runs it.
    this.#deadlines = options.deadlines && checkDeadlines(options.deadlines);
    this.#life = new Lifecycle(
      options.onError,
      this,
      (options as LifecycleHookOptions)[CLOSED_HOOK],
      (options as LifecycleHookOptions)[OPENING_HOOK],
    );
    this.#stats = this.#life.counters;
    // Before connectionMade(): a bad timeout throws before anything starts, and a transport
    // that closes (or fails) in connectionMade() or on its first read is timed or stopped too.
    if (this.#idleTimeout !== undefined) {
      const timeout = this.#idleTimeout;
      this.#idle = new IdleTimer(timeout, {
        waitingOnApplication: () => this.#waitingOnApplication(),
        expired: () =>
          this.#closeNow(
            new TransportError(`Connection idle for ${timeout} ms`),
            false,
            "idle-timeout",
          ),
      });
    }
    if (!this.#life.open(() => protocol.connectionMade?.(this), (e) => this.#callbackFailed(e))) {
      return;
    }
    if (this.#read === "stopped") return;
    this.#readLoop = this.#runReadLoop();
  }

  /**
   * The frame deadlines, when the `deadlines` option is given: made on first use (a framed
   * protocol starts it in `connectionMade`).
   */
  get deadlineClock(): DeadlineClock | undefined {
    if (this.#deadlineClock !== undefined || this.#deadlines === undefined) {
      return this.#deadlineClock;
    }
    const clock = this.#deadlineClock = new DeadlineClock(this.#deadlines, {
      waitingOnApplication: () => this.#waitingOnApplication(),
      // Before the framed layer's hook (which may close or abort): it ends with this reason.
      expiring: (error) => {
        this.#closeReason ??= error;
      },
      close: () => this.close(),
      abort: (error) => this.#closeNow(error),
    });
    if (this.#life.finished) clock.stop(); // as #closeNow() would have stopped it
    return clock;
  }

  /** Resolves after `connectionLost()`, with its error; never rejects. */
  get closed(): Promise<Error | undefined> {
    return this.#life.closed;
  }

  /**
   * Whether the peer's silence is the application's doing, for the idle timer and the
   * deadlines: reading is paused, or the protocol holds the peer still (see `PeerHold`), and
   * nothing we wrote waits for the peer to read it.
   */
  #waitingOnApplication(): boolean {
    if (this.#flow.size !== 0) return false;
    if (this.#read === "paused") return true;
    try {
      return this.#protocol.isHoldingPeer?.() === true;
    } catch (error) {
      // From a timer: the transport is aborted, as for any callback that throws.
      this.#callbackFailed(error);
      return false;
    }
  }

  getExtraInfo<K extends keyof ExtraInfo>(
    name: K,
    defaultValue?: ExtraInfo[K],
  ): ExtraInfo[K] | undefined {
    // A stored `null` (no ALPN protocol, no SNI name) is an answer, not a missing fact.
    let value = this.#extra[name];
    if (value === undefined && name === "name") {
      const named = this.#extra.name = defaultTraceName(this.#namedPeer);
      value = named as ExtraInfo[K];
    }
    return value === undefined ? defaultValue : value;
  }

  isClosing(): boolean {
    return this.#life.closing;
  }

  /** Whether a graceful close has handed everything over and lingers for the peer's EOF. */
  [LINGERING](): boolean {
    return this.#lingering !== undefined;
  }

  isUpgrading(): boolean {
    return this.#upgrade !== undefined;
  }

  /**
   * A snapshot of the transport's counters: bytes and socket reads/writes each way, pauses and
   * their total time, when it opened and — once it ended — when and why.
   *
   * @example Why a connection closed
   * ```ts
   * import { createMemoryTransportPair } from "@plexus/net/transport";
   * import { assertEquals } from "@std/assert";
   *
   * const [a, b] = createMemoryTransportPair({ dataReceived() {} }, { dataReceived() {} });
   * a.write(new Uint8Array(3));
   * a.close();
   * await Promise.all([a.closed, b.closed]);
   * assertEquals(a.stats().closeReason, "close");
   * assertEquals(b.stats().bytesReceived, 3);
   * ```
   */
  stats(): TransportStats {
    return this.#life.stats();
  }

  // ---- Reading -------------------------------------------------------------------------------

  isReading(): boolean {
    return this.#read === "reading";
  }

  pauseReading(): void {
    if (this.#read !== "reading") return;
    this.#read = "paused";
    this.#stats.pausedReading();
  }

  resumeReading(): void {
    if (this.#read !== "paused") return;
    this.#read = "reading";
    this.#stats.resumedReading();
    this.#idle?.touch();
    this.#deadlineClock?.resumed();
    this.#wake();
  }

  /** The read state, read afresh after an `await` (callbacks may have changed it). */
  #readState(): ReadState {
    return this.#read;
  }

  /** Whether the read loop must wait: paused, or held by an upgrade. */
  #mustWait(): boolean {
    return this.#read === "paused" || (this.#read === "reading" && this.#upgrade !== undefined);
  }

  async #runReadLoop(): Promise<void> {
    const buffered = this.#bufferedProtocol;
    const plain = this.#protocol as Protocol;
    const slab = this.#slab;
    const stats = this.#stats;
    for (;;) {
      while (this.#mustWait()) await this.#sleep();
      if (this.#read !== "reading") return;
      let target: Uint8Array;
      try {
        const size = this.#readSize.next;
        if (buffered) {
          target = buffered.getBuffer(size);
          if (target.byteLength === 0) {
            throw new RangeError("getBuffer() returned an empty buffer");
          }
        } else target = slab.target(size);
      } catch (error) {
        this.#callbackFailed(error);
        return;
      }
      // getBuffer() may have paused, closed or begun an upgrade: no read on the old channel.
      if (this.#read !== "reading" || this.#upgrade !== undefined) continue;
      let n: number | null;
      this.#readStep = "reading";
      try {
        n = await this.#channel.read(target);
      } catch (error) {
        this.#readStep = "idle";
        if (this.#readState() !== "stopped") this.#fail(transportError("Read failed", error));
        return;
      }
      // Bytes read while paused are held for resumeReading(): no upgrade may take the channel
      // from under them (they were read from the channel it replaces).
      this.#readStep = "held";
      if (n !== null) {
        this.#readSize.record(n, target.byteLength);
        stats.reads++;
        stats.bytesReceived += n;
      }
      this.#idle?.touch();
      // Data that arrived after pauseReading() waits for resumeReading(); no read meanwhile.
      while (this.#readState() === "paused") await this.#sleep();
      this.#readStep = "idle";
      if (this.#readState() !== "reading") return;
      this.#readStep = "delivering";
      try {
        if (n === null) {
          this.#onEof();
          return;
        }
        if (buffered) buffered.bufferUpdated(n);
        else {
          slab.took(n);
          plain.dataReceived(target.subarray(0, n));
        }
      } catch (error) {
        this.#callbackFailed(error);
        return;
      } finally {
        this.#delivered();
      }
      // One microtask before the next read is issued, so that a close() this read's callback
      // led to through a promise (a client closing after its last answer) finds no read
      // pending. Deno cancels a pending read by building an `Interrupted` error: measured,
      // ~10 µs of CPU per connection. (One microtask covers an `await` of a promise resolved
      // in the callback; a close behind more async layers still finds a read pending.)
      await undefined;
    }
  }

  /**
   * The protocol's callback returned: a flush it armed starts now, so its reply is written
   * before the next read is issued, with no microtask between. One promise and one microtask
   * fewer per reply: measured over a fake channel, an echo's round trip went from 377 to 326 ns
   * with 10 connections and from 500 to 482 with 1000 (whole-process runs moved within their
   * noise).
   */
  #delivered(): void {
    this.#readStep = "idle";
    if (this.#flush !== "armed") return;
    this.#flush = "running";
    this.#flushStep();
  }

  #onEof(): void {
    this.#read = "eof";
    // The peer sends no more: no frame of its can complete later, so none is timed (what is
    // left, frames decoded at the end or held by a pause, waits on us, not on the peer).
    this.#deadlineClock?.readingStopped();
    const keepOpen = this.#protocol.eofReceived?.();
    if (keepOpen !== true) {
      this.#close("peer-eof");
      return;
    }
    if (this.#life.closing) return;
    if (this.#write === "eof-sent") this.#closeNow(undefined, true, "peer-eof");
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
    if (this.#life.closing) {
      this.out.truncate(this.#committed);
      return;
    }
    if (this.#write !== "open") throw new TransportError("Cannot write after writeEof()");
    this.out.append(data);
    this.commit();
  }

  commit(): void {
    const size = this.out.length - this.#committed;
    if (size <= this.#quietRoom) {
      // The common case (see #quietRoom): nothing to check, nothing to signal.
      this.#quietRoom -= size;
      this.#committed += size;
      this.#flow.addQuiet(size);
      return;
    }
    this.#commitChecked(size);
  }

  /** `commit()` of bytes past the quiet room: every check, then the room for the next ones. */
  #commitChecked(size: number): void {
    // A commit from a callback below (pauseWriting) is checked too: the old room is gone.
    this.#quietRoom = 0;
    const flow = this.#flow;
    if (this.#write !== "open" || this.#life.closing || !flow.fits(size)) {
      this.#refuseCommit(size);
      return;
    }
    this.#committed += size;
    if (this.#upgrade) this.#heldBytes += size;
    else if (this.#flush === "idle") this.#startFlush();
    const signal = flow.add(size);
    if (signal !== undefined) this.#signal(signal);
    if (flow.budgeted) flow.enforceBudget();
    // The callbacks above may have closed, ended or upgraded: the room goes by the state now.
    this.#quietRoom = this.#write === "open" && !this.#life.closing && this.#flush !== "idle" &&
        !this.#upgrade
      ? flow.quietRoom()
      : 0;
  }

  /** `commit()` of bytes the buffer does not take: dropped when closing, else an error. */
  #refuseCommit(size: number): void {
    this.out.truncate(this.#committed);
    if (this.#life.closing) return;
    if (this.#write !== "open") throw new TransportError("Cannot write after writeEof()");
    this.#fail(this.#flow.refuse(size)!);
  }

  writeLines(chunks: Iterable<Uint8Array>): void {
    for (const chunk of chunks) this.write(chunk);
  }

  writeEof(): void {
    if (this.#life.closing || this.#write !== "open") return;
    if (!this.#writeEnding() || this.#write !== "open") return;
    this.#write = "eof-requested";
    this.#quietRoom = 0;
    if (this.#flush === "idle" && !this.#upgrade) this.#startFlush();
  }

  /**
   * Tells a protocol that holds whole frames back ({@linkcode WRITE_ENDING}) that the write
   * side ends now (a close, a `writeEof()`), so it commits them first.
   *
   * @returns Whether the transport may go on ending: not when the protocol closed, aborted or
   * failed meanwhile.
   */
  #writeEnding(): boolean {
    const hook = (this.#protocol as WriteEndingProtocol)[WRITE_ENDING];
    if (hook === undefined || this.#write !== "open") return true;
    try {
      hook.call(this.#protocol);
    } catch (error) {
      this.#callbackFailed(error);
    }
    return !this.#life.closing;
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
    this.#quietRoom = 0;
    this.#signal(this.#flow.setLimits(limits));
  }

  getMaxWriteBuffer(): number {
    return this.#flow.maxWriteBuffer;
  }

  setMaxWriteBuffer(max: number): void {
    this.#flow.setMaxWriteBuffer(max);
    this.#quietRoom = 0;
  }

  /**
   * Starts the flush. From the protocol's callback on the read loop, it is armed: the loop
   * runs its first step when the callback returns. Otherwise, one microtask first: the rest
   * of this turn's commits join the first conn.write.
   */
  #startFlush(): void {
    if (this.#readStep === "delivering") {
      this.#flush = "armed";
      return;
    }
    this.#flush = "running";
    this.#flushLoop = SETTLED.then(this.#flushStep);
  }

  /**
   * The flush, one step per callback rather than an async function: measured over a fake
   * channel, an echo allocates 705 bytes per round trip instead of 1070 (a hand-written loop:
   * 280), which is what a server's heap grows by under connection churn. A step writes the
   * next committed chunk, or sends the requested EOF, or ends the flush; `#flushLoop` is the
   * step in flight, what a close waits for.
   *
   * ```
   * #startFlush ─microtask─> #flushStep ──write──> #wrote ──> #flushStep ...
   *    └─armed─> #delivered ─┘   │   └─closeWrite─> #eofSent ─> #flushDone
   *                              └─ nothing sendable ─> #flushDone
   * (a failed write or closeWrite: #writeFailed; a finished transport: #flushStopped)
   * ```
   */
  readonly #flushStep = (): void => {
    if (this.#life.finished) {
      this.#flushStopped();
      return;
    }
    try {
      let chunk = this.#chunk;
      if (chunk === undefined) {
        const sendable = this.#committed - this.#heldBytes;
        if (sendable === 0) {
          // During an upgrade, EOF and close wait for it to end (see #endHold).
          if (this.#write === "eof-requested" && !this.#upgrade) {
            this.#flushLoop = Promise.resolve(this.#channel.closeWrite())
              .then(this.#eofSent, this.#writeFailed);
          } else this.#flushDone();
          return;
        }
        chunk = this.#chunk = this.out.shift(sendable)!;
        this.#committed -= chunk.byteLength;
        this.#chunkWritten = 0;
      }
      const offset = this.#chunkWritten;
      // Promise.resolve: a channel returning a plain count takes the same path (a native
      // promise is passed through as it is).
      this.#flushLoop = Promise.resolve(
        this.#channel.write(offset === 0 ? chunk : chunk.subarray(offset)),
      ).then(this.#wrote, this.#writeFailed);
    } catch (error) {
      this.#writeFailed(error);
    }
  };

  readonly #wrote = (n: number): void => {
    const stats = this.#stats;
    stats.writes++;
    stats.bytesSent += n;
    if (this.#life.finished) {
      this.#flushStopped();
      return;
    }
    try {
      this.#chunkWritten += n;
      this.#idle?.touch();
      if (this.#flushedWaiters.length > 0) {
        for (const resolve of this.#flushedWaiters.splice(0)) resolve();
      }
      this.#signal(this.#flow.written(n));
      const chunk = this.#chunk!;
      if (this.#chunkWritten >= chunk.byteLength && !this.#life.finished) {
        this.#chunk = undefined;
        this.#flow.release(chunk.byteLength);
        // Every piece handed out is written: its block may be reused (from its start, once
        // the buffer is empty).
        this.out.rewind();
      }
    } catch (error) {
      this.#writeFailed(error);
      return;
    }
    this.#flushStep();
  };

  readonly #eofSent = (): void => {
    this.#write = "eof-sent";
    this.#flushDone();
  };

  readonly #writeFailed = (error: unknown): void => {
    if (!this.#life.finished) this.#fail(transportError("Write failed", error));
    this.#flushStopped();
  };

  /** The flush ran out of work (or stopped): drain waiters go on. */
  #flushStopped(): void {
    this.#flush = "idle";
    this.#quietRoom = 0;
    this.#chunk = undefined;
    this.#releaseDrainWaiters();
  }

  /** Everything sendable is written: a close or a peer's EOF waiting on it goes on. */
  #flushDone(): void {
    this.#flushStopped();
    if (this.#life.finished || this.#upgrade) return;
    if (this.#life.closing) this.#closeNow(undefined, true);
    else if (this.#write === "eof-sent" && this.#read === "eof") {
      this.#closeNow(undefined, true, "peer-eof");
    }
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
    // Every byte written so far is out once the bytes sent reach those sent plus those still
    // buffered now (later writes do not move the mark).
    const stats = this.#stats;
    const target = stats.bytesSent + this.#flow.size;
    while (
      !this.#life.finished && (this.#upgrade !== undefined ||
        this.#flush !== "idle" && (stats.bytesSent < target || this.#write === "eof-requested"))
    ) {
      await new Promise<void>((resolve) => this.#flushedWaiters.push(resolve));
    }
    if (!this.#life.finished) return;
    // A graceful close that lingers has handed everything to the socket already: the wait
    // for the peer's EOF is no part of the flush (a close's own error is still reported).
    if (this.#lingering !== undefined) {
      if (this.#closeReason) throw this.#closeReason;
      return;
    }
    const error = await this.#life.closed;
    if (error) throw error;
    if (this.#droppedOnAbort) {
      throw new TransportError("Cannot flush: the transport was aborted with data buffered");
    }
  }

  #releaseDrainWaiters(): void {
    if (this.#drainWaiters.length > 0) {
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
    if (this.#flushedWaiters.length > 0) {
      for (const resolve of this.#flushedWaiters.splice(0)) resolve();
    }
  }

  /** Resolves when no flush is running (everything sendable is written). */
  #drained(): Promise<void> {
    if (this.#flush === "idle") return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #signal(signal: FlowSignal): void {
    if (signal === undefined) return; // the common case: no closure made
    // A room given while paused went by the cap alone: it ends with the pause.
    this.#quietRoom = 0;
    deliverFlowSignal(signal, this.#stats, this.#protocol, (error) => this.#callbackFailed(error));
  }

  // ---- TLS -----------------------------------------------------------------------------------

  /**
   * Upgrades the open connection to TLS (STARTTLS). Data written before the call goes out in
   * plaintext first; data written while the handshake runs waits and goes out encrypted.
   *
   * No read may be in flight, since Deno cannot take over a socket with a pending read: call
   * it from `dataReceived()` (the usual place, right after the peer's go-ahead), or call
   * `pauseReading()` there and upgrade later (a read that completed while paused holds its
   * bytes for `resumeReading()`, and an upgrade is refused until they are delivered: they came
   * over the old channel). The client side uses `Deno.startTls` on TCP
   * connections; the server side (`serverSide: true`) runs `node:tls` over the connection, since
   * Deno has no server-side `startTls`.
   *
   * A failed upgrade aborts the transport: `connectionLost()` receives the error and the
   * returned promise rejects with it (that rejection is never reported as unhandled, so the
   * call may be left unawaited). `close()` during the handshake abandons the upgrade and
   * drops the data held for it (data written before the call still goes out first).
   *
   * TLS cannot be unwrapped back to plaintext on Deno: see {@linkcode StreamTransport.unwrapTls}.
   *
   * @param options Client options (`serverHostname`, `caCerts`, `alpnProtocols`, ...) or
   * server options (`serverSide: true`, `cert`, `key`, `alpnProtocols`).
   * @throws {TransportError} At once when the transport is closing, half-closed (either
   * way: after `writeEof()`, or once the peer's EOF came, also from inside `eofReceived()`,
   * since a handshake cannot complete with a peer that sends no more), already encrypted,
   * already upgrading, or has a read in flight or its bytes held; as a rejection when the
   * handshake fails.
   * @throws {RangeError} At once when `handshakeTimeout` is not 0 to 2147483647 ms or Infinity.
   */
  startTls(options: StartTlsOptions): Promise<void> {
    if (options.handshakeTimeout !== undefined) {
      checkDelay("Cannot start TLS: handshakeTimeout", options.handshakeTimeout, 0, true);
    }
    this.#checkCanUpgrade(
      "Cannot start TLS",
      "startTls() from dataReceived(), or pauseReading() " +
        "there and call it later",
    );
    const upgrade = new AbortController();
    this.#upgrade = upgrade;
    this.#quietRoom = 0;
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
   * facts to add to `getExtraInfo()`, and a signal that aborts when the transport closes or
   * `options.timeout` passes (the transport stops waiting for `wrap` then; a channel it
   * returns later is closed); returns the channel to use from now on.
   * @param options `timeout`: how long `wrap` may take (see {@linkcode WrapChannelOptions}).
   * @returns Resolves once the new channel is in use.
   * @throws {TransportError} At once when the transport is closing, half-closed (either way,
   * as for `startTls()`: also from inside `eofReceived()`), upgrading, or has a read in flight
   * or its bytes held; as a rejection when `wrap` fails or times out.
   * @throws {RangeError} At once when `timeout` is not 0 to 2147483647 ms or Infinity.
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
    options?: WrapChannelOptions,
  ): Promise<void> {
    const timeout = options?.timeout;
    if (timeout !== undefined) checkDelay("Cannot wrap the connection: timeout", timeout, 0, true);
    this.#checkCanUpgrade(
      "Cannot wrap the connection",
      "wrapChannel() with reading paused, or from dataReceived()",
    );
    const upgrade = new AbortController();
    this.#upgrade = upgrade;
    this.#quietRoom = 0;
    const done = this.#runWrap(wrap, upgrade.signal, timeout);
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
    timeout: number | undefined,
  ): Promise<void> {
    try {
      await this.#drained();
      this.#closeIfClosing();
      if (this.#life.finished) throw new TransportError("Cannot wrap the connection: it closed");
      const extra: ExtraInfo = {};
      // Raced with the signal and the timeout: a wrap that ignores its signal must not keep a
      // closed transport open, nor one whose peer stalls it.
      const cancel = linkCancellation(
        signal,
        timeout,
        `Wrapping the connection timed out after ${timeout} ms (timeout)`,
      );
      let channel: ByteChannel;
      try {
        channel = await cancel.race(Promise.resolve(wrap(this.#channel, extra, cancel.signal)));
      } finally {
        cancel.dispose();
      }
      if (this.#life.finished) {
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
    }
    this.#endHold();
  }

  /** The upgrade is done: what was committed meanwhile may leave, reading may go on. */
  #endHold(): void {
    this.#upgrade = undefined;
    this.#heldBytes = 0;
    if (this.#committed > 0 || this.#write === "eof-requested" || this.#life.closing) {
      this.#startFlush();
    } else {
      this.#releaseDrainWaiters();
    }
    this.#wake();
  }

  /**
   * A `close()` came while the bytes written before the upgrade were leaving: they are out
   * now, so the close ends it; what was held for the upgrade is dropped.
   */
  #closeIfClosing(): void {
    if (this.#life.closing) this.#closeNow(undefined, true);
  }

  #checkCanUpgrade(what: string, readHint: string): void {
    let reason: string | undefined;
    if (this.#life.closing) reason = "the transport is closing";
    else if (what === "Cannot start TLS" && this.#extra.tls) {
      reason = "the transport already uses TLS";
    } else if (this.#upgrade) reason = "an upgrade is already in progress";
    else if (this.#read === "eof" || this.#read === "stopped") {
      // Either way the peer sends no more (from eofReceived() or after it returned `true`),
      // so no handshake could complete (nor a wrapper read the peer's side of one).
      reason =
        "the transport is half-closed: the peer ended its stream (EOF), no handshake can complete";
    } else if (this.#write !== "open") reason = "the transport is half-closed";
    else if (this.#readStep === "reading") reason = `a read is in flight; call ${readHint}`;
    else if (this.#readStep === "held") {
      reason = "bytes read from the channel wait for resumeReading(); let them be delivered first";
    }
    if (reason) throw new TransportError(`${what}: ${reason}`);
  }

  async #runUpgrade(options: StartTlsOptions, signal: AbortSignal): Promise<void> {
    try {
      await this.#drained();
      this.#closeIfClosing();
      if (this.#life.finished) throw new TransportError("Cannot start TLS: the transport closed");
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
      if (this.#life.finished) {
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
    }
    this.#endHold();
  }

  // ---- Closing -------------------------------------------------------------------------------

  close(error?: Error): void {
    if (error !== undefined) {
      // A close that already finished at once (the hook that answered the error closed, with
      // nothing to flush): the loss still to come gets the error all the same.
      if (this.#life.finished) {
        this.#life.failLate(error);
        return;
      }
      this.#closeReason ??= error;
    }
    this.#close("close");
  }

  #close(reason: CloseReason): void {
    if (this.#life.closing) return;
    if (this.#upgrade && this.#flush === "idle") {
      // Mid-upgrade: what is held cannot be sent in plaintext; give the upgrade up. (Bytes
      // written before the upgrade may still be leaving: they go first, then the upgrade,
      // finding the transport closing, gives itself up.)
      // A deadline's close keeps the deadline as its reason (as #closeNow infers it).
      this.#closeNow(undefined, false, this.#closeReason === undefined ? reason : undefined);
      return;
    }
    // The protocol commits whole frames it holds back (a packet writer's packetGrace): they
    // were written before the close, which sends them. (Uncommitted bytes are dropped.)
    if (!this.#writeEnding()) return;
    this.#life.beginClose(reason);
    this.#quietRoom = 0;
    // After the peer's EOF the read side stays "eof": nothing more can come, so no lingering.
    if (this.#read !== "eof") this.#read = "stopped";
    this.#deadlineClock?.readingStopped();
    this.#wake();
    if (this.#flush === "idle") this.#closeNow(undefined, true);
  }

  abort(error?: Error): void {
    // A plain abort() during a deadline's graceful close only hurries it (drops its last
    // bytes): the deadline stays the cause, as it would when its grace runs out.
    error ??= this.#closeReason;
    // With an error, the reason is the error's (a layer above aborting for a decode error,
    // an overflow or a deadline is not a plain abort()).
    this.#closeNow(error, false, error === undefined ? "abort" : closeReasonOf(error));
    // A close lingering for the peer's EOF ends now, with this error if one is given (as
    // close(error) in that window does).
    if (this.#lingering !== undefined) {
      if (error !== undefined) this.#life.failLate(error);
      this.#lingering.cut();
    }
  }

  /** Closes the transport and waits for `connectionLost()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#life.closed;
  }

  #fail(error: unknown): void {
    this.#closeNow(error instanceof Error ? error : new Error(String(error)));
  }

  /**
   * A protocol callback threw: as `#fail`, and when its own `close()` had already finished the
   * transport, `connectionLost()` (still to come) gets the error all the same.
   */
  #callbackFailed(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error));
    if (!this.#life.failLate(failure)) this.#closeNow(failure);
  }

  /**
   * Closes the channel now; `connectionLost()` follows once every loop has stopped. `graceful`
   * (the write buffer was flushed) lets the channel end its stream in order (a TLS
   * `close_notify`); otherwise a channel that can tell the two apart is aborted. `reason`
   * overrides the close reason the lifecycle would infer.
   */
  #closeNow(
    error: Error | undefined = this.#closeReason,
    graceful = false,
    reason?: CloseReason,
  ): void {
    this.#quietRoom = 0;
    const channel = this.#channel;
    // What may still be running; a loop known to be done is not waited for.
    const loops: Promise<unknown>[] = [this.#readLoop];
    if (this.#flush === "running") loops.push(this.#flushLoop);
    if (this.#upgrade) loops.push(this.#upgradeDone);
    // A graceful close before the peer's EOF lingers for it (see lingerTimeout); the flush
    // is done then (a graceful close comes after it), so nothing else writes the channel.
    const linger = graceful && this.#read !== "eof" && this.#lingerTimeout > 0 &&
        !this.#life.finished && canReset(channel, this.#socketAddress)
      ? new LingeringClose(channel, this.#write === "eof-sent", this.#readLoop, this.#lingerTimeout)
      : undefined;
    if (linger) loops.push(linger.finished);
    if (channel.closed) loops.push(channel.closed);
    const protocol = this.#protocol;
    const peer = this.#extra.peername;
    if (
      !this.#life.finish(
        error,
        loops,
        (e) => protocol.connectionLost?.(e),
        () => describePeer(peer),
        reason,
      )
    ) return;
    this.#lingering = linger;
    // Unwritten bytes, the rest of a chunk in flight among them (it is no longer in #committed).
    this.#droppedOnAbort = this.#flow.size > 0 || this.#write === "eof-requested";
    this.#read = "stopped";
    this.out.clear();
    this.#committed = 0;
    this.#heldBytes = 0;
    this.#flow.clear();
    const upgrade = this.#upgrade;
    this.#upgrade = undefined;
    upgrade?.abort(new TransportError("Cannot finish the TLS upgrade: the transport closed"));
    this.#idle?.stop();
    this.#deadlineClock?.stop();
    this.#wake();
    this.#releaseDrainWaiters();
    if (linger) return;
    try {
      if (!graceful && channel.abort) channel.abort();
      else channel.close();
    } catch {
      // Already closed (for example consumed by a failed Deno.startTls).
    }
  }
}

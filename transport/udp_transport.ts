import { isIP } from "node:net";
import { canonicalHost } from "./_canonical_host.ts";
import { freshBlock } from "./_fresh_memory.ts";
import { describePeer } from "./callback_error.ts";
import { Lifecycle } from "./_lifecycle.ts";
import { defaultTraceName, frameChannel, publishFrame } from "./_trace.ts";
import type { Counters } from "./_stats.ts";
import { type CloseReason, closeReasonOf, type TransportStats } from "./stats.ts";
import { transportError } from "./errors.ts";
import { deliverFlowSignal, type FlowSignal, WriteFlowControl } from "./_flow_control.ts";
import type { DatagramProtocol } from "./protocols.ts";
import type { DatagramTransport, ExtraInfo, WriteBufferLimits } from "./types.ts";

/**
 * The largest UDP payload: over IPv6 (65535 - 8; over IPv4 it is 65507). A receive buffer
 * must hold it whole: `receive()` cuts a longer datagram to the buffer without a word.
 */
const MAX_DATAGRAM = 65527;
/**
 * Datagrams are received into the free tail of a slab this big, which is never reused: each
 * datagram the protocol gets is a view of its own bytes, without a copy or an allocation (a new
 * slab every few thousand small datagrams).
 */
const SLAB_SIZE = 512 * 1024;
/** The framer name of a datagram's `plexus:frame` trace event: each datagram is one frame. */
const DATAGRAM = "datagram";

/** Options of a {@linkcode UdpTransport}. */
export interface UdpTransportOptions {
  /**
   * The default destination of `sendto()`, an IP address (a name is refused: resolve it
   * first). When set, datagrams from any other address are dropped, as on a connected UDP
   * socket, and `sendto()` to another address throws.
   */
  remoteAddress?: Deno.NetAddr;
  /** Facts for `getExtraInfo()`, added to those read off the socket. */
  extra?: ExtraInfo;
  /**
   * The write buffer watermarks (queued datagram bytes).
   *
   * @default {{ high: 65536, low: 16384 }}
   */
  writeBufferLimits?: Partial<WriteBufferLimits>;
  /**
   * Pass each datagram as a view into one reused receive buffer: it is valid only until
   * `datagramReceived()` returns, so copy what you keep — also what you send back: `sendto()`
   * queues its data by reference, and the next datagram would overwrite a queued echo. Saves
   * fresh memory for protocols that parse each datagram at once.
   *
   * @default {false}
   */
  reuseReceiveBuffer?: boolean;
  /**
   * Called with errors a protocol callback threw when there is no transport left to end with
   * them — a throwing `connectionLost()` — as a {@linkcode CallbackError}. Never
   * `reportError()`: that would end the process.
   *
   * @default {log with console.error}
   */
  onError?: (error: Error) => void;
}

/**
 * `UdpTransport` option key of its owner's function called as each datagram leaves the send
 * queue, with the datagram, the very address object given to `sendto()`, and whether the
 * socket took it (`sent`) or refused it (a datagram too large, a bad destination: the refusal
 * goes to `errorReceived()` as ever, and the transport goes on). A UDP tendril manager counts
 * each peer's datagrams sent and bytes still queued with it. A datagram dropped with the
 * transport (aborted, or lost with its socket) is not reported.
 */
export const SEND_SETTLED: unique symbol = Symbol("plexus.sendSettled");

/** `UdpTransport` options that may carry a {@linkcode SEND_SETTLED} function. */
export interface SendSettledOption {
  /** See {@linkcode SEND_SETTLED}. */
  [SEND_SETTLED]?: (data: Uint8Array, addr: Deno.NetAddr, sent: boolean) => void;
}

/**
 * The receive side of a {@linkcode UdpTransport}; the lifecycle is the shared one (open,
 * closing while queued datagrams are sent, finished).
 *
 * | state       | entered by                        | left by                        |
 * | ----------- | --------------------------------- | ------------------------------ |
 * | `"reading"` | the constructor, `resumeReading()` | `pauseReading()`, closing      |
 * | `"paused"`  | `pauseReading()` while reading    | `resumeReading()`, closing     |
 * | `"stopped"` | `close()`, `abort()`, errors      | — (final)                      |
 */
type ReceiveState = "reading" | "paused" | "stopped";

/**
 * A {@linkcode DatagramTransport} over a `Deno.DatagramConn` (from `Deno.listenDatagram`, UDP;
 * needs `--unstable-net`).
 *
 * Datagrams are received into a slab that is never reused, so each one the protocol gets is
 * its own bytes, with no copy (or, with `reuseReceiveBuffer`, a view of one reused buffer, valid
 * during the call). A datagram is a view of a 512 KiB slab that other datagrams share: to keep
 * a small one for long, keep `datagram.slice()`, so the slab can be freed (and `.buffer`
 * shows only its own bytes). Sends are queued with the same byte-counted flow control as stream
 * transports and go out in order. A failed send or receive that leaves the socket usable
 * reaches `errorReceived()`; the transport stays open. With the wire trace on (see
 * `subscribe`), each datagram each way is a `plexus:frame` event, its framer `"datagram"`.
 *
 * The protocol's `connectionMade()` is called from the constructor, then receiving starts.
 *
 * @example Echo one datagram on loopback
 * ```ts
 * import { UdpTransport } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const echo = new UdpTransport(socket, {
 *   datagramReceived: (data, addr) => echo.sendto(data, addr),
 * });
 * const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * await peer.send(new TextEncoder().encode("hi"), socket.addr);
 * const [reply] = await peer.receive();
 * assertEquals(new TextDecoder().decode(reply), "hi");
 * peer.close();
 * echo.close();
 * await echo.closed;
 * ```
 */
export class UdpTransport implements DatagramTransport, AsyncDisposable {
  readonly #conn: Deno.DatagramConn;
  readonly #protocol: DatagramProtocol;
  readonly #remote: Deno.NetAddr | undefined;
  /** The remote's hostname in canonical form (see `canonicalHost`), to compare senders with. */
  readonly #remoteHost: string | undefined;
  readonly #reuseReceiveBuffer: boolean;
  readonly #extra: ExtraInfo;
  readonly #flow: WriteFlowControl;
  readonly #life: Lifecycle;
  readonly #stats: Counters;
  /** The owner's account of each datagram leaving the queue (see `SEND_SETTLED`). */
  readonly #settled: SendSettledOption[typeof SEND_SETTLED];
  // Datagrams waiting while one is sent: parallel arrays, no object per datagram. `sendto`
  // appends to the queue; the sends go through the batch, which swaps with the queue when it
  // runs out (so neither holds datagrams already sent for longer than one batch).
  #queueData: Uint8Array[] = [];
  #queueAddr: Deno.NetAddr[] = [];
  #batchData: Uint8Array[] = [];
  #batchAddr: Deno.NetAddr[] = [];
  #batchHead = 0;
  /**
   * The datagram being sent, or `undefined` when none is. One send at a time: overlapping
   * `send()`s on one Deno socket reach the peer out of order (measured: 128 of 200).
   */
  #sendingData: Uint8Array | undefined;
  #sendingAddr: Deno.NetAddr | undefined;
  /** Settles (never rejects) once the send in flight is handled. */
  #sendDone: Promise<void> = Promise.resolve();
  #receive: ReceiveState = "reading";
  #wakeReader: (() => void) | undefined;
  #receiveLoop: Promise<void> = Promise.resolve();
  /** The last address that matched the remote address (compared by identity of its parts). */
  #lastHostname: string | undefined;

  /**
   * Creates the transport, calls `protocol.connectionMade(this)` and starts receiving.
   *
   * @param conn The datagram socket; the transport owns it from now on.
   * @param protocol The protocol to call.
   * @param options Default remote address, extra info and watermarks.
   * @throws {TypeError} When `remoteAddress` is a name, not an IP address (the socket is not
   * taken: the caller closes it).
   */
  constructor(
    conn: Deno.DatagramConn,
    protocol: DatagramProtocol,
    options?: UdpTransportOptions,
  ) {
    options ??= {};
    this.#conn = conn;
    this.#protocol = protocol;
    this.#remote = options.remoteAddress;
    this.#remoteHost = this.#remote && canonicalHost(this.#remote.hostname);
    if (this.#remoteHost !== undefined && isIP(this.#remoteHost) === 0) {
      // The filter compares the senders' IP addresses: a name would never match its peer.
      throw new TypeError(
        `Cannot filter datagrams by remote ${
          this.#remote!.hostname
        }: give an IP address (resolve the name first, as createDatagramEndpoint does)`,
      );
    }
    this.#reuseReceiveBuffer = options.reuseReceiveBuffer ?? false;
    this.#extra = { sockname: conn.addr, peername: options.remoteAddress, conn, ...options.extra };
    this.#extra.name ??= protocol.connectionName ??
      defaultTraceName(options.remoteAddress ?? conn.addr);
    this.#flow = new WriteFlowControl(options.writeBufferLimits);
    this.#settled = (options as SendSettledOption)[SEND_SETTLED];
    this.#life = new Lifecycle(options.onError, this);
    this.#stats = this.#life.counters;
    if (!this.#life.open(() => protocol.connectionMade?.(this), (e) => this.#callbackFailed(e))) {
      return;
    }
    if (this.#receive !== "stopped") this.#receiveLoop = this.#runReceiveLoop();
  }

  /** Resolves after `connectionLost()`, with its error; never rejects. */
  get closed(): Promise<Error | undefined> {
    return this.#life.closed;
  }

  getExtraInfo<K extends keyof ExtraInfo>(
    name: K,
    defaultValue?: ExtraInfo[K],
  ): ExtraInfo[K] | undefined {
    return this.#extra[name] ?? defaultValue;
  }

  isClosing(): boolean {
    return this.#life.closing;
  }

  /**
   * A snapshot of the transport's counters (datagrams and their bytes each way, pauses), when
   * it opened and, once it ended, when and why.
   *
   * @example
   * ```ts
   * import { UdpTransport } from "@plexus/net/transport";
   *
   * const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
   * const udp = new UdpTransport(socket, { datagramReceived() {} });
   * udp.close();
   * await udp.closed;
   * console.assert(udp.stats().closeReason === "close");
   * ```
   */
  stats(): TransportStats {
    return this.#life.stats();
  }

  isReading(): boolean {
    return this.#receive === "reading";
  }

  pauseReading(): void {
    if (this.#receive !== "reading") return;
    this.#receive = "paused";
    this.#stats.pausedReading();
  }

  resumeReading(): void {
    if (this.#receive !== "paused") return;
    this.#receive = "reading";
    this.#stats.resumedReading();
    this.#wake();
  }

  /** The receive state, read afresh after an `await`. */
  #receiveState(): ReceiveState {
    return this.#receive;
  }

  sendto(data: Uint8Array, addr?: Deno.NetAddr): void {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`Cannot send ${typeof data}: expected a Uint8Array`);
    }
    if (this.#life.closing) return; // dropped, as stream writes are (see WriteTransport.write)
    const target = addr ?? this.#remote;
    if (target === undefined) {
      throw new TypeError("Cannot send: no address given and no default remote address");
    }
    if (addr && this.#remote && !this.#isRemote(addr)) {
      throw new TypeError(
        `Cannot send to ${formatAddr(addr)}: the transport is bound to ${formatAddr(this.#remote)}`,
      );
    }
    // Queued datagrams are capped as stream writes are (64 MiB): past it, abort.
    const overflow = this.#flow.refuse(data.byteLength);
    if (overflow) {
      this.#fail(overflow);
      return;
    }
    if (frameChannel.hasSubscribers) publishFrame(this, "send", data, data.slice(), DATAGRAM);
    if (this.#sendingData === undefined) this.#send(data, target);
    else {
      this.#queueData.push(data);
      this.#queueAddr.push(target);
    }
    this.#signal(this.#flow.add(data.byteLength));
  }

  getWriteBufferSize(): number {
    return this.#flow.size;
  }

  /**
   * The cap on the bytes of queued datagrams (`maxWriteBuffer`, 64 MiB): a `sendto()` that
   * would take them past it aborts the transport with a `WriteBufferOverflowError`.
   */
  getMaxWriteBuffer(): number {
    return this.#flow.maxWriteBuffer;
  }

  /**
   * Sets the cap on the bytes of queued datagrams; it applies from the next `sendto()`
   * (`Infinity`: none, for an owner that keeps a cap of its own per sender).
   *
   * @param max The cap in bytes.
   * @throws {RangeError} When `max` is not a number > 0.
   */
  setMaxWriteBuffer(max: number): void {
    this.#flow.setMaxWriteBuffer(max);
  }

  getWriteBufferLimits(): WriteBufferLimits {
    return this.#flow.limits;
  }

  setWriteBufferLimits(limits?: Partial<WriteBufferLimits>): void {
    this.#signal(this.#flow.setLimits(limits));
  }

  /** Stops receiving, sends what is queued, then closes the socket. */
  close(): void {
    if (!this.#life.beginClose()) return;
    this.#receive = "stopped";
    this.#wake();
    if (this.#sendingData === undefined) this.#closeNow();
  }

  abort(error?: Error): void {
    // With an error, the reason is the error's, as for a stream transport.
    this.#closeNow(error, error === undefined ? "abort" : closeReasonOf(error));
  }

  /** Closes the transport and waits for `connectionLost()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#life.closed;
  }

  async #runReceiveLoop(): Promise<void> {
    const reuse = this.#reuseReceiveBuffer;
    let slab = reuse ? new Uint8Array(MAX_DATAGRAM + 1) : new Uint8Array(freshBlock(SLAB_SIZE));
    let used = 0;
    const remote = this.#remote;
    const stats = this.#stats;
    for (;;) {
      while (this.#receiveState() === "paused") await this.#sleep();
      if (this.#receiveState() !== "reading") return;
      if (!reuse && slab.byteLength - used <= MAX_DATAGRAM) {
        slab = new Uint8Array(freshBlock(SLAB_SIZE));
        used = 0;
      }
      let data: Uint8Array;
      let from: Deno.Addr;
      try {
        [data, from] = await this.#conn.receive(used === 0 ? slab : slab.subarray(used));
      } catch (error) {
        if (this.#receiveState() === "stopped") return;
        if (isSocketGone(error)) {
          this.#fail(transportError("Receive failed", error));
          return;
        }
        if (!this.#report(transportError("Receive failed", error))) return;
        continue;
      }
      // A datagram that arrived after pauseReading() waits for resumeReading(); no receive
      // is issued meanwhile, so the buffer holding it is not overwritten.
      while (this.#receiveState() === "paused") await this.#sleep();
      if (this.#receiveState() !== "reading") return;
      const addr = from as Deno.NetAddr;
      if (remote && !this.#isRemote(addr)) continue;
      stats.reads++;
      stats.bytesReceived += data.byteLength;
      // The bytes are the datagram's own: this part of the slab is never written again.
      if (!reuse) used += data.byteLength;
      if (frameChannel.hasSubscribers) {
        publishFrame(this, "receive", data, data.slice(), DATAGRAM);
      }
      try {
        this.#protocol.datagramReceived(data, addr);
      } catch (error) {
        this.#callbackFailed(error);
        return;
      }
    }
  }

  /** Whether `addr` is the remote address: the port first, then the last hostname seen. */
  #isRemote(addr: Deno.NetAddr): boolean {
    const remote = this.#remote!;
    if (addr.port !== remote.port) return false;
    if (addr.hostname === this.#lastHostname) return true;
    if (addr.hostname !== remote.hostname && canonicalHost(addr.hostname) !== this.#remoteHost) {
      return false;
    }
    this.#lastHostname = addr.hostname;
    return true;
  }

  /**
   * Sends one datagram; its settling sends the next. No async function or array per
   * datagram: measured over a fake socket, an echo's JS cost per datagram fell from ~400 ns
   * (a send loop) to ~170 ns (a bare receive/send loop: ~100 ns).
   */
  #send(data: Uint8Array, addr: Deno.NetAddr): void {
    this.#sendingData = data;
    this.#sendingAddr = addr;
    let sent: Promise<number>;
    try {
      // Promise.resolve: a socket-like object returning a plain value takes the same path.
      sent = Promise.resolve(this.#conn.send(data, addr));
    } catch (error) {
      sent = Promise.reject(error); // a socket-like object that throws: the same path
    }
    this.#sendDone = sent.then(this.#sent, this.#sendFailed);
  }

  readonly #sent = (): void => {
    const data = this.#sendingData!;
    this.#stats.writes++;
    this.#stats.bytesSent += data.byteLength;
    this.#settled?.(data, this.#sendingAddr!, true);
    this.#sendNext(data);
  };

  readonly #sendFailed = (error: unknown): void => {
    if (this.#life.finished) return;
    if (isSocketGone(error)) {
      this.#fail(transportError("Send failed", error));
      return;
    }
    const failed = transportError(`Send to ${formatAddr(this.#sendingAddr!)} failed`, error);
    this.#settled?.(this.#sendingData!, this.#sendingAddr!, false);
    if (this.#report(failed)) this.#sendNext(this.#sendingData!);
  };

  /** After a send: counts its bytes off, then sends the next queued datagram, if any. */
  #sendNext(sent: Uint8Array): void {
    if (this.#life.finished) return;
    this.#signal(this.#flow.remove(sent.byteLength));
    if (this.#life.finished) return;
    if (this.#batchHead === this.#batchData.length && this.#queueData.length > 0) {
      const data = this.#batchData;
      const addr = this.#batchAddr;
      data.length = addr.length = 0;
      this.#batchData = this.#queueData;
      this.#batchAddr = this.#queueAddr;
      this.#queueData = data;
      this.#queueAddr = addr;
      this.#batchHead = 0;
    }
    const head = this.#batchHead;
    if (head < this.#batchData.length) {
      this.#batchHead = head + 1;
      this.#send(this.#batchData[head], this.#batchAddr[head]);
      return;
    }
    this.#batchData.length = this.#batchAddr.length = this.#batchHead = 0;
    this.#sendingData = this.#sendingAddr = undefined;
    if (this.#life.closing) this.#closeNow();
  }

  /** Passes a recoverable error to `errorReceived()`; false when that failed the transport. */
  #report(error: Error): boolean {
    try {
      this.#protocol.errorReceived?.(error);
      return true;
    } catch (callbackError) {
      this.#callbackFailed(callbackError);
      return false;
    }
  }

  #signal(signal: FlowSignal): void {
    if (signal === undefined) return; // the common case: no closure made
    deliverFlowSignal(signal, this.#stats, this.#protocol, (error) => this.#callbackFailed(error));
  }

  #sleep(): Promise<void> {
    return new Promise((resolve) => this.#wakeReader = resolve);
  }

  #wake(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
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

  #closeNow(error?: Error, reason?: CloseReason): void {
    const protocol = this.#protocol;
    const where = this.#remote ?? this.#conn.addr;
    if (
      !this.#life.finish(
        error,
        this.#sendingData === undefined ? [this.#receiveLoop] : [this.#receiveLoop, this.#sendDone],
        (e) => protocol.connectionLost?.(e),
        () => describePeer(where),
        reason,
      )
    ) return;
    this.#receive = "stopped";
    this.#queueData = [];
    this.#queueAddr = [];
    this.#batchData = [];
    this.#batchAddr = [];
    this.#batchHead = 0;
    this.#flow.clear();
    this.#wake();
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

function isSocketGone(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}

function formatAddr(addr: Deno.NetAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

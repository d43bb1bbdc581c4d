/**
 * One UDP peer of a UDP tendril manager, seen as a stream transport by its tendril.
 *
 * @module
 */

import { EMPTY_DATAGRAM } from "../framing/_frame_reader.ts";
import type { FramedProtocol } from "../framing/framed_protocol.ts";
import { Lifecycle } from "../transport/_lifecycle.ts";
import { describePeer } from "../transport/callback_error.ts";
import { connectionChannel, defaultTraceName, publishOpen } from "../transport/_trace.ts";
import { SendBuffer } from "../transport/send_buffer.ts";
import type { ExtraInfo, Transport, WriteBufferLimits } from "../transport/types.ts";
import type { CloseReason, TransportStats } from "../transport/stats.ts";
import type { Counters } from "../transport/_stats.ts";
import type { UdpTransport } from "../transport/udp_transport.ts";
import type { PeerTrust, TablePeer } from "./_udp_peer_table.ts";
import type { FramedTendril } from "./_framed_tendril.ts";

/** Datagrams kept for a peer while its acceptor runs or its reading is paused. */
export const QUEUED_PER_PEER = 16;

/**
 * What became of a datagram a peer sends: `"queued"` on the shared socket, `"dropped"` by a
 * closing socket (as every transport drops writes once closing: the peer hears of the loss from
 * `connectionLost`, which follows), or the error to cut the peer with.
 */
export type SendOutcome = "queued" | "dropped" | Error;

/** What a peer needs from its manager. */
export interface PeerHost<F> {
  /**
   * Queues a datagram on the shared socket. `unsent` is the bytes of this peer's datagrams the
   * socket holds already: when this one would take them past the per-sender cap, the outcome is
   * the error to cut this peer with (the peer alone is cut, not the socket and every other
   * peer). Each datagram queued comes back to the peer's `settled()`.
   */
  send(data: Uint8Array, addr: Deno.NetAddr, unsent: number): SendOutcome;
  /** The socket's transport (for buffer sizes and addresses). */
  socket(): UdpTransport;
  /** Forgets a closed peer. */
  release(peer: Peer<F>): void;
  /** The peer proved itself: it may no longer be evicted for a newcomer. */
  proven(peer: Peer<F>): void;
  /** Counts a datagram dropped for a peer. */
  dropped(): void;
  /** Takes `bytes` from the shared queue budget; false when it is spent. */
  reserve(bytes: number): boolean;
  /** Gives `bytes` back to the queue budget. */
  unreserve(bytes: number): void;
  /** Where errors a peer's callbacks threw after it ended go (the manager's `onError`). */
  onError(error: Error): void;
}

/**
 * Where a peer's datagrams go.
 *
 * | state       | a datagram ...                          | becomes ...                      |
 * | ----------- | --------------------------------------- | -------------------------------- |
 * | `"reading"` | goes to the receive buffer and framer   | `"paused"` on `pauseReading()`   |
 * | `"paused"`  | is queued (bounded) or dropped, counted | `"reading"` on `resumeReading()` |
 * | `"closed"`  | is ignored                              | (final)                          |
 *
 * A tendril starts `"paused"` in effect: its `connectionMade` pauses reading until the acceptor
 * has made the application.
 */
type PeerState = "reading" | "paused" | "closed";

/**
 * One UDP peer's side of the socket, seen as a stream transport by its `FramedProtocol`:
 * datagrams from the peer are appended to its receive buffer, writes go out as datagrams.
 *
 * Trust (see {@linkcode PeerTrust}): a peer made by a datagram starts `"unproven"`, becomes
 * `"answered"` when we send it a datagram and `"proven"` when it sends one after that — it
 * then evidently gets our datagrams, so it is not a one-datagram flood source. A peer opened
 * with `connect()` starts `"proven"`: we chose it.
 */
export class Peer<F> implements Transport, TablePeer<Peer<F>> {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly tendril: FramedTendril<F>;
  lastActivity: number = performance.now();
  olderUnproven: Peer<F> | undefined;
  newerUnproven: Peer<F> | undefined;
  listedUnproven = false;
  #trust: PeerTrust;
  #state: PeerState = "reading";
  /** What the application last heard: pauseWriting (true) or resumeWriting. */
  #writePaused = false;
  /**
   * Bytes of this peer's datagrams the shared socket holds, not yet sent (nor refused): what
   * the per-sender cap counts.
   */
  #unsent = 0;
  /**
   * This peer's datagrams the shared socket holds (an empty one too): while any are, the
   * manager keeps the peer to count them as they leave, even after it closed.
   */
  #pending = 0;
  /** See {@linkcode Peer.allowance}. */
  #allowance = Infinity;
  readonly #host: PeerHost<F>;
  /** The peer's address: the one object its datagrams are sent to, which identifies them. */
  readonly addr: Deno.NetAddr;
  readonly #queued: Uint8Array[] = [];
  /** The shared lifecycle: `connectionLost()` once, a throw from it to the host, `closed`. */
  readonly #life: Lifecycle;
  readonly #stats: Counters;

  constructor(
    host: PeerHost<F>,
    addr: Deno.NetAddr,
    key: string,
    tableHost: string,
    tendril: FramedTendril<F>,
    trust: PeerTrust,
  ) {
    this.#host = host;
    this.#life = new Lifecycle((error) => host.onError(error), this);
    this.#stats = this.#life.counters;
    this.addr = addr;
    this.key = key;
    this.host = tableHost;
    this.port = addr.port;
    this.tendril = tendril;
    this.#trust = trust;
  }

  /** The protocol driven by this peer. */
  get protocol(): FramedProtocol<F> {
    return this.tendril.framed;
  }

  get closed(): Promise<Error | undefined> {
    return this.#life.closed;
  }

  get trust(): PeerTrust {
    return this.#trust;
  }

  start(): void {
    if (connectionChannel.hasSubscribers) publishOpen(this);
    this.tendril.framed.connectionMade(this);
  }

  /** A datagram from the peer: delivered now, queued while paused (bounded), or dropped. */
  receive(data: Uint8Array): void {
    if (this.#state === "closed") return;
    this.lastActivity = performance.now();
    if (this.#trust === "answered") {
      this.#trust = "proven";
      this.#host.proven(this);
    }
    this.#take(data);
  }

  /**
   * The datagram that made the peer, after `start()`. It came before anything we sent (an
   * acceptor's greeting, say), so it proves nothing: the trust stays as it is.
   */
  receiveFirst(data: Uint8Array): void {
    if (this.#state !== "closed") this.#take(data);
  }

  #take(data: Uint8Array): void {
    const stats = this.#stats;
    stats.reads++;
    stats.bytesReceived += data.byteLength;
    if (this.#state === "paused") {
      // `data` is a view of the socket's reused buffer: keep a copy, within the budgets.
      if (this.#queued.length < QUEUED_PER_PEER && this.#host.reserve(data.byteLength)) {
        this.#queued.push(data.slice());
      } else {
        this.#host.dropped();
      }
      return;
    }
    this.#deliver(data);
  }

  /**
   * One datagram into the tendril. Under the identity framer a datagram is one frame, an empty
   * one too — but an empty datagram adds no byte to the receive buffer, so no decoder can see
   * it: the framed protocol takes it as such (see `EMPTY_DATAGRAM`). A throw aborts the peer.
   */
  #deliver(data: Uint8Array): void {
    const framed = this.tendril.framed;
    try {
      if (data.byteLength > 0) {
        // Copied whole: the free tail getBuffer() hands out may be shorter than asked (once
        // frames were taken from the block), and a datagram cannot be split (under the
        // identity framer the halves would be two frames). bufferUpdated(0) decodes.
        framed.receiveBuffer.append(data);
        framed.bufferUpdated(0);
      } else {
        framed[EMPTY_DATAGRAM]();
      }
    } catch (error) {
      this.abort(error instanceof Error ? error : new Error(String(error)));
    }
  }

  // ---- Transport -----------------------------------------------------------------------------

  /** What the next datagram holds: `commit()` sends it as one datagram. */
  readonly out: SendBuffer = new SendBuffer({ blockSize: 2048 });

  write(data: Uint8Array): void {
    if (this.#state === "closed") {
      this.out.clear(); // dropped, as every transport drops writes once closing
      return;
    }
    if (this.out.length > 0) this.commit();
    this.#send(data);
  }

  /**
   * Sends what `out` holds as one datagram: one frame, one datagram — an empty one too (the
   * identity framer's empty frame), so call it once per frame.
   */
  commit(): void {
    if (this.#state === "closed") {
      this.out.clear();
      return;
    }
    this.#send(this.out.take());
  }

  #send(data: Uint8Array): void {
    // Counted before the socket takes it: a callback the send raises (pauseWriting) may close
    // this peer, and the manager must know then that a datagram of it is still queued.
    const unsent = this.#unsent;
    this.#unsent += data.byteLength;
    this.#pending++;
    const outcome = this.#host.send(data, this.addr, unsent);
    if (outcome !== "queued") {
      this.#unsent -= data.byteLength;
      this.#pending--;
      if (outcome !== "dropped") this.abort(outcome);
      return;
    }
    this.lastActivity = performance.now();
    if (this.#trust === "unproven") this.#trust = "answered";
  }

  /** Bytes of this peer's datagrams the shared socket holds, not yet sent (nor refused). */
  get unsent(): number {
    return this.#unsent;
  }

  /** This peer's datagrams the shared socket holds, not yet sent (nor refused). */
  get pending(): number {
    return this.#pending;
  }

  /** The application was made: it hears a pause in force now, and its allowance starts. */
  applicationMade(): void {
    if (this.#writePaused && this.#state !== "closed") this.#allowance = this.#unsent;
  }

  /**
   * The bytes this peer may hold on the shared socket while it honours `pauseWriting()`: what
   * it held when the pause reached it (`Infinity` while not paused, or before its application
   * was made). More means its application went on sending past the pause.
   */
  get allowance(): number {
    return this.#allowance;
  }

  /**
   * One of this peer's datagrams left the socket's queue: when the socket took it (`sent`), it
   * counts as sent now, as a stream transport counts bytes once its socket took them; one the
   * socket refused (the manager's `onError` hears why) does not count. It may come after the
   * peer closed: a datagram the socket took still counts.
   *
   * @param bytes The datagram's size.
   * @param sent Whether the socket took it.
   */
  settled(bytes: number, sent: boolean): void {
    this.#unsent -= bytes;
    this.#pending--;
    if (!sent) return;
    const stats = this.#stats;
    stats.writes++;
    stats.bytesSent += bytes;
  }

  /**
   * The shared socket's buffer went over its high watermark (`paused`) or drained: the
   * application hears it, and the peer's stats count it. A throw from the application aborts
   * the peer alone.
   */
  signalWriting(paused: boolean): void {
    if (this.#state === "closed" || paused === this.#writePaused) return;
    this.#writePaused = paused;
    // What it held when told to pause (the datagram that filled the socket included): holding
    // more later means its application went on sending. Before the acceptor returns no
    // application can have heard it: the allowance starts then (see applicationMade()).
    this.#allowance = paused && this.tendril.application !== undefined ? this.#unsent : Infinity;
    const stats = this.#stats;
    try {
      if (paused) {
        stats.pausedWriting();
        this.tendril.framed.pauseWriting();
      } else {
        stats.resumedWriting();
        this.tendril.framed.resumeWriting();
      }
    } catch (error) {
      this.abort(error instanceof Error ? error : new Error(String(error)), "error");
    }
  }

  writeLines(chunks: Iterable<Uint8Array>): void {
    for (const chunk of chunks) this.write(chunk);
  }

  /** UDP has no end of stream: does nothing. */
  writeEof(): void {}

  canWriteEof(): boolean {
    return false;
  }

  close(error?: Error): void {
    // Nothing to flush: a datagram leaves as it is sent. With an error, its reason.
    this.abort(error, error === undefined ? "close" : undefined);
  }

  /**
   * Closes the peer at once; `connectionLost()` follows from a microtask.
   *
   * @param error For `connectionLost()`.
   * @param reason The close reason (the manager's: `"idle-timeout"`, `"evicted"`, `"error"`).
   */
  abort(error?: Error, reason?: CloseReason): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    for (const data of this.#queued) this.#host.unreserve(data.byteLength);
    this.#queued.length = 0;
    this.out.clear();
    // As a transport does, report the loss after the current callback has returned.
    const framed = this.tendril.framed;
    const addr = this.addr;
    this.#life.finish(
      error,
      [],
      (e) => framed.connectionLost(e),
      () => describePeer(addr),
      // Without one given: "abort", or with an error the error's reason (as a transport's).
      reason ?? (error === undefined ? "abort" : undefined),
    );
    this.#host.release(this); // after finish(): the peer's stats carry its close reason
  }

  /**
   * A snapshot of the peer's counters: datagrams and bytes each way (a datagram sent counts
   * once the socket took it), pauses, the end.
   */
  stats(): TransportStats {
    return this.#life.stats();
  }

  isClosing(): boolean {
    return this.#state === "closed";
  }

  isReading(): boolean {
    return this.#state === "reading";
  }

  pauseReading(): void {
    if (this.#state !== "reading") return;
    this.#state = "paused";
    this.#stats.pausedReading();
  }

  resumeReading(): void {
    if (this.#state !== "paused") return;
    this.#state = "reading";
    this.#stats.resumedReading();
    while (this.#queued.length > 0 && this.#state === "reading") {
      const data = this.#queued.shift()!;
      this.#host.unreserve(data.byteLength);
      this.#deliver(data);
    }
  }

  getExtraInfo<K extends keyof ExtraInfo>(
    name: K,
    defaultValue?: ExtraInfo[K],
  ): ExtraInfo[K] | undefined {
    const info: ExtraInfo = {
      sockname: this.#host.socket().getExtraInfo("sockname"),
      peername: this.addr,
      conn: this.#host.socket().getExtraInfo("conn"),
      name: defaultTraceName(this.addr),
    };
    return info[name] ?? defaultValue;
  }

  getWriteBufferSize(): number {
    return this.#host.socket().getWriteBufferSize();
  }

  getWriteBufferLimits(): WriteBufferLimits {
    return this.#host.socket().getWriteBufferLimits();
  }

  setWriteBufferLimits(limits?: Partial<WriteBufferLimits>): void {
    this.#host.socket().setWriteBufferLimits(limits);
  }
}

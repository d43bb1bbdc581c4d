import { canonicalHost } from "../transport/_canonical_host.ts";
import type { Framer } from "../framing/framer.ts";
import { IdentityFramer } from "../framing/identity.ts";
import { TransportError, WriteBufferOverflowError } from "../transport/errors.ts";
import { DEFAULT_MAX_WRITE_BUFFER } from "../transport/_flow_control.ts";
import { checkDelay } from "../transport/_delay.ts";
import { deliverError } from "../transport/callback_error.ts";
import {
  addCounters,
  type TransportCounters,
  type UdpManagerStats,
  zeroCounters,
} from "../transport/stats.ts";
import type { DatagramProtocol } from "../transport/protocols.ts";
import { SEND_SETTLED, type UdpTransport } from "../transport/udp_transport.ts";
import { Peer, type PeerHost } from "./_udp_peer.ts";
import { normalizeHost, PeerTable, type PeerTrust } from "./_udp_peer_table.ts";
import { type Address, formatAddress, type HostPort, parseAddress } from "./address.ts";
import {
  createDatagramEndpoint,
  type DatagramEndpointOptions,
  resolveUdpAddress,
} from "./create_datagram_endpoint.ts";
import { FramedTendril } from "./_framed_tendril.ts";
import type { Acceptor, Application, Tendril } from "./tendril.ts";
import type { TendrilManager, TendrilManagerOptions } from "./tendril_manager.ts";
import type { ShutdownOptions } from "./server.ts";

/**
 * A UDP peer was closed to make room for a new one: the peer table was full (`maxPeers`) and
 * this peer had never proved itself — it never sent a datagram after one of ours. The evicted
 * tendril's application gets it in `closed()`; the manager counts it in `evictedPeers`.
 *
 * @example Tell an eviction from an idle expiry
 * ```ts
 * import { Application, PeerEvictedError } from "@plexus/net/endpoints";
 *
 * class Logger extends Application {
 *   frameReceived(_frame: Uint8Array): void {}
 *   override closed(error: Error | undefined): void {
 *     if (error instanceof PeerEvictedError) console.log(`${error.peer} made room for another`);
 *   }
 * }
 * ```
 */
export class PeerEvictedError extends TransportError {
  /** The evicted peer's address, `host:port`. */
  readonly peer: string;
  /** The manager's `maxPeers`. */
  readonly maxPeers: number;

  /**
   * Creates the error.
   *
   * @param peer The evicted peer's address, `host:port`.
   * @param maxPeers The limit that was reached.
   */
  constructor(peer: string, maxPeers: number) {
    super(
      `UDP peer ${peer} evicted: the peer table is full (maxPeers ${maxPeers}) and the peer ` +
        "never sent a datagram after one of ours",
    );
    this.name = "PeerEvictedError";
    this.peer = peer;
    this.maxPeers = maxPeers;
  }
}

/** Options of a {@linkcode UdpTendrilManager}. */
export interface UdpTendrilManagerOptions<F = Uint8Array> extends TendrilManagerOptions<F> {
  /**
   * Milliseconds a peer may stay silent — no datagram in either direction — before it is
   * closed (its application's `closed()` gets a `TransportError`).
   *
   * @default {60000}
   */
  idleTimeout?: number;
  /**
   * The most peers at once, so a flood of spoofed source addresses cannot grow memory. When
   * the table is full, a new peer takes the place of the oldest peer that has not proved
   * itself (it never sent a datagram after one of ours): that one is closed with a
   * {@linkcode PeerEvictedError} and counted in `evictedPeers`. Proven peers leave only by
   * idle expiry; when every peer is proven, the new peer is dropped and counted in
   * `droppedPeers`.
   *
   * @default {1024}
   */
  maxPeers?: number;
  /**
   * The most new peers waiting for the acceptor at once; further new peers are dropped and
   * counted. Each waiting peer keeps at most 16 datagrams.
   *
   * @default {64}
   */
  backlog?: number;
  /**
   * Decides from its first datagram whether a new peer gets to the acceptor at all; `false`
   * drops the datagram (counted in `droppedPeers`). The datagram is a copy, yours to keep.
   */
  acceptFilter?: (addr: Deno.NetAddr, datagram: Uint8Array) => boolean;
  /**
   * Bytes of datagrams kept, over all peers, while acceptors run or peers' reading is paused;
   * past it they are dropped and counted.
   *
   * @default {4194304}
   */
  maxQueuedBytes?: number;
}

/**
 * A manager's state:
 *
 * | state      | means                                         | next                                                                 |
 * | ---------- | --------------------------------------------- | -------------------------------------------------------------------- |
 * | `stopped`  | no acceptor (peers and the socket may remain) | start() → `starting`; shutdown() → `shutDown`                        |
 * | `starting` | start() binds the socket                      | bound → `running`; stop() → `stopped`; shutdown() → `shutDown` (the new socket is closed) |
 * | `running`  | new peers reach the acceptor; connect() works | stop(), the socket lost → `stopped`; shutdown() → `shutDown`         |
 * | `shutDown` | final: peers and socket closed               | —                                                                    |
 */
type ManagerState = "stopped" | "starting" | "running" | "shutDown";

/**
 * Accepts and opens UDP pseudo-connections through one socket (Tendril's
 * `UDPTendrilManager`): datagrams are sorted by remote address into per-peer tendrils, each
 * with its own application and framers (an identity framer by default: one datagram, one
 * frame, an empty datagram included; each frame sent is one datagram). New peers go through
 * the acceptor and are in `tendrils` before their first frame; idle peers expire; the peer
 * table and the acceptor backlog are bounded, and what does not fit is dropped and counted.
 * Get one with `getManager("udp", localAddress)`.
 *
 * The peers share the socket's write buffer: each application hears `pauseWriting()` when it
 * fills. One that goes on sending is cut alone, with a `WriteBufferOverflowError`, once its own
 * datagrams queued on the socket would pass 64 MiB (`maxWriteBuffer`); the other peers go on.
 * When many such peers together would take the socket's queue past 64 MiB, the one holding the
 * most of it is cut, and so on while the queue stays past it; a peer that honours
 * `pauseWriting()` (holding no more than when the pause reached it) is never cut.
 * A peer's stats count a datagram as sent once the socket took it: one the socket refused
 * (too large, say) is lost, as UDP loses datagrams, and its refusal goes to `onError`.
 *
 * A full peer table makes room by evicting the oldest peer that never proved itself, so a
 * flood of one-datagram spoofed sources cannot lock genuine newcomers out until it expires.
 * A peer proves itself by sending a datagram after we sent it one — a spoofer never sees our
 * datagrams, a real peer answers them (a peer we `connect()` to is proven from the start).
 * This is a cheap filter against blind one-shot floods, not a proof of address ownership: a
 * service that needs one should make new peers echo a cookie before it trusts them.
 *
 * @typeParam F The frame type.
 *
 * @example A UDP echo and a client pseudo-connection
 * ```ts
 * import { Application, getManager, UdpTendrilManager } from "@plexus/net/endpoints";
 * import { assertEquals } from "@std/assert";
 *
 * class Echo extends Application {
 *   frameReceived(frame: Uint8Array): void {
 *     this.sendFrame(frame);
 *   }
 * }
 * class Client extends Application {
 *   readonly reply = Promise.withResolvers<string>();
 *   frameReceived(frame: Uint8Array): void {
 *     this.reply.resolve(new TextDecoder().decode(frame));
 *   }
 * }
 * const server = getManager("udp", "127.0.0.1:0");
 * await server.start((tendril) => new Echo(tendril));
 * // getManager() would return the same manager for the same endpoint: make a second one.
 * const client = new UdpTendrilManager("127.0.0.1:0", { idleTimeout: 5000 });
 * await client.start();
 * const tendril = await client.connect(server.localAddress!, (t) => new Client(t));
 * tendril!.sendFrame(new TextEncoder().encode("ping"));
 * assertEquals(await (tendril!.application as Client).reply.promise, "ping");
 * await client.shutdown();
 * await server.shutdown();
 * ```
 */
export class UdpTendrilManager<F = Uint8Array> implements TendrilManager<F> {
  /** The peer the last datagram came from, and its hostname as the socket spelt it. */
  #lastPeer: Peer<F> | undefined;
  #lastHostname: string | undefined;
  readonly proto = "udp" as const;
  readonly endpoint: string;
  readonly #local: { hostname: string; port: number };
  readonly #framer: () => Framer<F>;
  readonly #idleTimeout: number;
  readonly #maxPeers: number;
  readonly #backlog: number;
  readonly #acceptFilter: UdpTendrilManagerOptions<F>["acceptFilter"];
  readonly #onError: UdpTendrilManagerOptions<F>["onError"];
  readonly #maxQueuedBytes: number;
  #queuedBytes = 0;
  readonly #peers = new PeerTable<Peer<F>>();
  /**
   * The peers by the address object each sends its datagrams to, as the socket gives it back
   * when a datagram leaves its queue: the live ones, and the closed ones whose datagrams it
   * still holds.
   */
  readonly #senders = new Map<Deno.NetAddr, Peer<F>>();
  readonly #accepted = new Map<string, Tendril<F>>();
  #socket: UdpTransport | undefined;
  /** Whether the socket's writing is paused: a new peer hears it as it starts. */
  #writingPaused = false;
  #acceptor: Acceptor<F> | undefined;
  #waiting = 0;
  #state: ManagerState = "stopped";
  /** The shutdown once begun: calling `shutdown()` again returns it. */
  #shutdown: Promise<void> | undefined;
  /** The socket being bound by a start(): shutdown() waits for it, then closes it. */
  #binding: Promise<void> | undefined;
  /** Counts `start()` calls: only the latest one may set the acceptor. */
  #starts = 0;
  #rejected = 0;
  #droppedPeers = 0;
  #droppedDatagrams = 0;
  #evictedPeers = 0;
  #createdPeers = 0;
  #expiredPeers = 0;
  #acceptedPeers = 0;
  #closedPeers = 0;
  /** The counters of the peers that ended, summed. */
  readonly #ended: TransportCounters = zeroCounters();
  #sweep: ReturnType<typeof setTimeout> | undefined;

  /**
   * Creates a manager; `getManager()` finds or creates the one of an endpoint.
   *
   * @param localAddress The socket's local address.
   * @param options Framer, idle timeout and the bounds of the peer table.
   * @throws {RangeError} When an option is out of range (naming it and the value).
   */
  constructor(
    localAddress: string | HostPort = "0.0.0.0:0",
    options: UdpTendrilManagerOptions<F> = {},
  ) {
    const parsed = parseAddress(localAddress);
    if (parsed.transport !== "tcp") throw new TypeError("A UDP manager needs a host and port");
    this.#local = parsed;
    this.endpoint = formatAddress(parsed);
    this.#framer = options.framer ?? (() => new IdentityFramer() as unknown as Framer<F>);
    // The sweep runs every idleTimeout / 4 ms: past the largest timer delay it would fire at
    // once, again and again.
    this.#idleTimeout = checkDelay(
      "Cannot create UDP manager: idleTimeout",
      options.idleTimeout ?? 60_000,
      1,
      false,
    );
    this.#maxPeers = checkOption("maxPeers", options.maxPeers ?? 1024, 1);
    this.#backlog = checkOption("backlog", options.backlog ?? 64, 0);
    this.#acceptFilter = options.acceptFilter;
    this.#onError = options.onError;
    this.#maxQueuedBytes = checkOption(
      "maxQueuedBytes",
      options.maxQueuedBytes ?? 4 * 1024 * 1024,
      0,
    );
  }

  get localAddress(): Deno.NetAddr | undefined {
    return this.#socket?.getExtraInfo("sockname") as Deno.NetAddr | undefined;
  }

  /** The state, read afresh after an `await` (stop() or shutdown() may have run meanwhile). */
  #stateNow(): ManagerState {
    return this.#state;
  }

  get running(): boolean {
    return this.#state === "running";
  }

  get shutDown(): boolean {
    return this.#state === "shutDown";
  }

  get tendrils(): ReadonlyMap<string, Tendril<F>> {
    return this.#accepted;
  }

  get rejectedConnections(): number {
    return this.#rejected;
  }

  /** New peers dropped: over `maxPeers` or `backlog`, or refused by `acceptFilter`. */
  get droppedPeers(): number {
    return this.#droppedPeers;
  }

  /** Datagrams dropped: from unknown peers while not accepting, or over a peer's queue. */
  get droppedDatagrams(): number {
    return this.#droppedDatagrams;
  }

  /**
   * Unproven peers closed to make room for new ones in a full table (see `maxPeers`); each
   * one's application got a {@linkcode PeerEvictedError}.
   */
  get evictedPeers(): number {
    return this.#evictedPeers;
  }

  /**
   * The manager's statistics: peers accepted (by the acceptor), active, rejected and closed,
   * the peers' counters summed (live, and all of them ever), and the peers created, expired,
   * dropped and evicted and datagrams dropped. It walks the live peers: sample it.
   *
   * @example
   * ```ts
   * import { UdpTendrilManager } from "@plexus/net/endpoints";
   *
   * const manager = new UdpTendrilManager("127.0.0.1:0");
   * console.assert(manager.stats().peersCreated === 0);
   * ```
   */
  stats(): UdpManagerStats {
    const live = zeroCounters();
    for (const peer of this.#peers.toArray()) addCounters(live, peer.stats());
    return {
      accepted: this.#acceptedPeers,
      active: this.#peers.size,
      rejected: this.#rejected,
      closed: this.#closedPeers,
      closedByIdleTimeout: this.#expiredPeers,
      closedByDeadline: 0,
      live,
      total: addCounters({ ...this.#ended }, live),
      peersCreated: this.#createdPeers,
      peersExpired: this.#expiredPeers,
      peersDropped: this.#droppedPeers,
      peersEvicted: this.#evictedPeers,
      datagramsDropped: this.#droppedDatagrams,
    };
  }

  async start(acceptor?: Acceptor<F>): Promise<void> {
    if (this.#state === "shutDown") {
      throw new TransportError("Cannot start: the manager was shut down");
    }
    if (this.#state !== "stopped") {
      throw new TransportError("Cannot start: the manager is already running");
    }
    this.#state = "starting";
    // A start() after a stop() while the first one still binds shares its binding (one socket),
    // and only the latest start() sets the acceptor.
    const generation = ++this.#starts;
    const binding = this.#binding ??= this.#bind().finally(() => {
      if (this.#binding === binding) this.#binding = undefined;
    });
    try {
      await binding;
    } catch (error) {
      if (this.#state === "starting" && generation === this.#starts) this.#state = "stopped";
      throw error;
    }
    // stop() or shutdown() while the socket was bound (shutdown() closes it).
    const now = this.#stateNow();
    if (now === "shutDown") throw new TransportError("Cannot start: the manager was shut down");
    if (now !== "starting" || generation !== this.#starts) {
      throw new TransportError("Cannot start: stopped meanwhile");
    }
    this.#acceptor = acceptor;
    this.#state = "running";
  }

  async connect(
    target: Address | Deno.Addr,
    acceptor: Acceptor<F>,
  ): Promise<Tendril<F> | undefined> {
    if (this.#state !== "running") {
      throw new TransportError("Cannot connect: the manager is not running");
    }
    // Replies come from an IP address: resolve a name now so they find this tendril.
    const addr = await resolveUdpAddress(target as Address);
    // Resolving a name takes a while: shutdown() may have run meanwhile, and a peer opened now
    // would outlive it (with its sweep timer).
    const now = this.#stateNow();
    if (now === "shutDown") throw new TransportError("Cannot connect: the manager was shut down");
    if (now !== "running") throw new TransportError("Cannot connect: the manager is not running");
    const host = canonicalHost(addr.hostname); // as the socket will report the peer
    if (this.#peers.find(host, addr.port)) {
      throw new TransportError(
        `Cannot connect to ${peerKey(host, addr.port)}: a tendril to it exists already`,
      );
    }
    const peer = this.#open(addr, host, acceptor, "proven");
    const outcome = await peer.tendril.outcome;
    if (outcome === "accepted") return peer.tendril;
    if (outcome === "rejected") return undefined;
    throw (await peer.tendril.closed) ?? new TransportError("Tendril lost while accepting it");
  }

  stop(): Promise<void> {
    if (this.#state !== "shutDown") this.#state = "stopped";
    this.#acceptor = undefined;
    return Promise.resolve();
  }

  /**
   * Closes every peer, then the socket once it has sent the datagrams queued on it (a peer's
   * sends go straight to the socket, so nothing the applications sent is dropped). `timeout`
   * is accepted for the {@linkcode TendrilManager} interface: nothing here waits on a peer.
   */
  shutdown(options?: ShutdownOptions): Promise<void> {
    // Checked before anything changes, and thrown, as the TCP manager's and a Server's are.
    if (options?.timeout !== undefined) {
      checkDelay("Cannot shut down: timeout", options.timeout, 0, true);
    }
    return this.#shutdown ??= this.#runShutdown();
  }

  async #runShutdown(): Promise<void> {
    this.#state = "shutDown";
    this.#acceptor = undefined;
    await this.#binding?.catch(() => {}); // a start() binding now: its socket is closed below
    const peers = this.#peers.toArray();
    for (const peer of peers) peer.close();
    await Promise.all(peers.map((peer) => peer.closed));
    this.#socket?.close();
    await this.#socket?.closed;
    clearTimeout(this.#sweep);
  }

  // ---- What peers may use -------------------------------------------------------------------

  readonly #host: PeerHost<F> = {
    onError: (error) => this.#report(error),
    send: (data, addr, unsent) => {
      const socket = this.#socket;
      if (socket === undefined || socket.isClosing()) return "dropped";
      // The socket's cap is kept here, on each sender's own queued bytes: an application that
      // goes on past pauseWriting is cut alone, not the socket with every other peer, nor a
      // peer that sends after it filled the socket's queue.
      const size = unsent + data.byteLength;
      if (size > DEFAULT_MAX_WRITE_BUFFER) {
        return new WriteBufferOverflowError(
          `Cannot send a ${data.byteLength}-byte datagram to ${formatAddress(addr)}: its ` +
            `datagrams queued on the shared socket would hold ${size} bytes, past ` +
            `maxWriteBuffer ${DEFAULT_MAX_WRITE_BUFFER} (the application went on sending after ` +
            "pauseWriting)",
          { size, limit: DEFAULT_MAX_WRITE_BUFFER },
        );
      }
      const total = socket.getWriteBufferSize() + data.byteLength;
      if (total > DEFAULT_MAX_WRITE_BUFFER) {
        const refused = this.#cutLargest(addr, size, total);
        if (refused) return refused;
      }
      socket.sendto(data, addr);
      return "queued";
    },
    socket: () => this.#socket!,
    release: (peer) => {
      this.#peers.remove(peer);
      // A peer with datagrams still queued hears of them as they leave (see #sendSettled).
      if (peer.pending === 0) this.#senders.delete(peer.addr);
      this.#closedPeers++;
      addCounters(this.#ended, peer.stats());
      if (this.#accepted.get(peer.key) === peer.tendril) this.#accepted.delete(peer.key);
      if (this.#peers.size === 0) {
        clearTimeout(this.#sweep);
        this.#sweep = undefined;
      }
    },
    proven: (peer) => this.#peers.unlist(peer),
    dropped: () => this.#droppedDatagrams++,
    reserve: (bytes) => {
      if (this.#queuedBytes + bytes > this.#maxQueuedBytes) return false;
      this.#queuedBytes += bytes;
      return true;
    },
    unreserve: (bytes) => this.#queuedBytes -= bytes,
  };

  /**
   * The shared socket's queue would pass the cap (many peers, each under its own): of the peers
   * that went on sending after `pauseWriting()` (holding more than when the pause reached them,
   * see `Peer.allowance`), the one holding the most is cut; a peer that honours the pause is
   * never cut. When that is the sender (`size`: its bytes with this datagram), its datagram is
   * refused with the error; otherwise the other peer is aborted and the sender's datagram goes
   * on. Datagrams already queued cannot be taken back, so the queue drains from there while
   * such peers are cut one by one, the largest first.
   *
   * @returns The error to refuse the sender's datagram with, if it is the one cut.
   */
  #cutLargest(sender: Deno.NetAddr, size: number, total: number): Error | undefined {
    let largest: Peer<F> | undefined;
    let most = 0;
    let senderIsLargest = false;
    for (const peer of this.#peers.toArray()) {
      if (peer.isClosing()) continue;
      const held = peer.addr === sender ? size : peer.unsent;
      if (held > peer.allowance && held > most) {
        largest = peer;
        most = held;
        senderIsLargest = peer.addr === sender;
      }
    }
    if (largest === undefined) return undefined;
    const error = new WriteBufferOverflowError(
      `The shared socket's write buffer would hold ${total} bytes, past maxWriteBuffer ` +
        `${DEFAULT_MAX_WRITE_BUFFER}; the peer ${formatAddress(largest.addr)} ` +
        `${senderIsLargest ? "would hold" : "held"} the most of it, ${most} bytes (its ` +
        "application went on sending after pauseWriting)",
      { size: total, limit: DEFAULT_MAX_WRITE_BUFFER },
    );
    if (senderIsLargest) return error;
    largest.abort(error);
    return undefined;
  }

  /**
   * A datagram left the socket's queue (`SEND_SETTLED`): its peer, found by the address object
   * it sends to, counts it as sent or not. A peer that closed while its datagram was queued
   * still counts one the socket took, in the closed peers' totals too (they took its counters
   * as it closed). A refusal reaches `onError` through `errorReceived`.
   */
  readonly #sendSettled = (data: Uint8Array, addr: Deno.NetAddr, sent: boolean): void => {
    const peer = this.#senders.get(addr);
    if (peer === undefined) return;
    peer.settled(data.byteLength, sent);
    if (!peer.isClosing()) return;
    if (sent) {
      this.#ended.writes++;
      this.#ended.bytesSent += data.byteLength;
    }
    if (peer.pending === 0) this.#senders.delete(addr);
  };

  // ---- Demultiplexing ------------------------------------------------------------------------

  async #bind(): Promise<void> {
    if (this.#socket) {
      if (!this.#socket.isClosing()) return;
      // A lost socket is replaced once its connectionLost has stopped the manager and its peers.
      await this.#socket.closed;
      if (this.#state === "shutDown") {
        throw new TransportError("Cannot start: the manager was shut down");
      }
    }
    const demux: DatagramProtocol = {
      datagramReceived: (data, addr) => this.#received(data, addr),
      pauseWriting: () => {
        this.#writingPaused = true;
        // A peer's callback may flip the socket's state (a resumeWriting that refills it):
        // the rest then hear the newer signal, not this one.
        this.#forEachPeer((peer) => this.#writingPaused && peer.signalWriting(true));
      },
      resumeWriting: () => {
        this.#writingPaused = false;
        this.#forEachPeer((peer) => !this.#writingPaused && peer.signalWriting(false));
      },
      // A send or receive the socket survived (an ICMP port unreachable, say): a refused
      // datagram is lost, as UDP loses datagrams, and its peer goes on (not counting it).
      errorReceived: (error) => this.#report(error),
      connectionLost: (error) => {
        if (this.#state === "running") this.#state = "stopped";
        this.#acceptor = undefined;
        this.#forEachPeer((peer) => peer.abort(error, error ? "error" : "close"));
        // The datagrams still queued were dropped with the socket: none will leave.
        this.#senders.clear();
      },
    };
    const { transport } = await createDatagramEndpoint(() => demux, {
      localAddress: this.#local,
      // Each datagram is copied once, into its peer's receive buffer (or its queue).
      reuseReceiveBuffer: true,
      [SEND_SETTLED]: this.#sendSettled,
    } as DatagramEndpointOptions);
    // Its cap is kept per sender, and the total by cutting the largest (see the host's send):
    // the socket itself has none.
    transport.setMaxWriteBuffer(Infinity);
    this.#socket = transport;
    this.#writingPaused = false;
  }

  /** Each datagram: a known peer's costs a lookup (no allocation); a new peer's, an admission. */
  #received(data: Uint8Array, addr: Deno.NetAddr): void {
    // The last sender first: the port, then the hostname string as the socket reported it.
    const last = this.#lastPeer;
    if (
      last !== undefined && last.port === addr.port && this.#lastHostname === addr.hostname &&
      !last.isClosing()
    ) {
      last.receive(data);
      return;
    }
    const host = normalizeHost(addr.hostname);
    const known = this.#peers.find(host, addr.port);
    if (known) {
      this.#lastPeer = known;
      this.#lastHostname = addr.hostname;
      known.receive(data);
      return;
    }
    this.#admit(data, addr, host);
  }

  /** A datagram from a new peer: refused, or admitted (evicting an unproven peer if full). */
  #admit(data: Uint8Array, addr: Deno.NetAddr, host: string): void {
    const acceptor = this.#acceptor;
    if (!acceptor) {
      this.#droppedDatagrams++;
      return;
    }
    if (this.#waiting >= this.#backlog) {
      this.#droppedPeers++;
      return;
    }
    let peer: Peer<F>;
    try {
      // A copy: `data` is a view of the socket's reused receive buffer (one copy per new peer).
      if (this.#acceptFilter && !this.#acceptFilter(addr, data.slice())) {
        this.#droppedPeers++;
        return;
      }
      if (this.#peers.size >= this.#maxPeers && !this.#evictOne()) {
        this.#droppedPeers++;
        return;
      }
      peer = this.#open({ ...addr }, host, acceptor, "unproven"); // the address outlives this call
    } catch (error) {
      // A user callback threw: this peer is dropped, the manager goes on.
      this.#droppedPeers++;
      this.#report(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    peer.receiveFirst(data);
  }

  /** Closes the oldest unproven peer to make room; false when every peer is proven. */
  #evictOne(): boolean {
    const victim = this.#peers.oldestUnproven();
    if (victim === undefined) return false;
    this.#evictedPeers++;
    // leaves the table now
    victim.abort(new PeerEvictedError(victim.key, this.#maxPeers), "evicted");
    return true;
  }

  /**
   * Opens a peer: its tendril starts with reading paused while the acceptor runs. An accepted
   * tendril is in `tendrils` before its reading resumes, so before its first frame.
   */
  #open(addr: Deno.NetAddr, host: string, acceptor: Acceptor<F>, trust: PeerTrust): Peer<F> {
    const key = peerKey(host, addr.port);
    const accept = async (tendril: Tendril<F>): Promise<Application<F>> => {
      const application = await acceptor(tendril);
      if (!peer.isClosing()) this.#accepted.set(key, peer.tendril);
      return application;
    };
    // A peer we connect() to is our client side: its acceptor's failure is connect()'s to throw.
    const side = trust === "proven" ? "client" : "server";
    const tendril = new FramedTendril(
      "udp",
      this.#framer(),
      accept,
      undefined,
      side,
      (error) => this.#report(error),
    );
    const peer: Peer<F> = new Peer(this.#host, addr, key, host, tendril, trust);
    tendril.onApplication = () => peer.applicationMade();
    this.#peers.add(peer, trust !== "proven");
    this.#senders.set(addr, peer);
    this.#createdPeers++;
    this.#waiting++;
    tendril.outcome.then((outcome) => {
      this.#waiting--;
      if (outcome === "rejected") this.#rejected++;
      else if (outcome === "accepted") this.#acceptedPeers++;
    });
    peer.start();
    if (this.#writingPaused) peer.signalWriting(true);
    this.#scheduleSweep();
    return peer;
  }

  /** An error the manager survives: to `onError`, or ignored without one (the UDP default). */
  #report(error: Error): void {
    if (this.#onError) deliverError(this.#onError, error);
  }

  #forEachPeer(action: (peer: Peer<F>) => void): void {
    for (const peer of this.#peers.toArray()) action(peer);
  }

  /** Closes idle peers; runs while there are peers. */
  #scheduleSweep(): void {
    if (this.#sweep !== undefined || this.#peers.size === 0) return;
    this.#sweep = setTimeout(() => {
      this.#sweep = undefined;
      const now = performance.now();
      this.#forEachPeer((peer) => {
        if (now - peer.lastActivity >= this.#idleTimeout) {
          this.#expiredPeers++;
          peer.abort(
            new TransportError(`UDP peer idle for ${this.#idleTimeout} ms`),
            "idle-timeout",
          );
        }
      });
      this.#scheduleSweep();
    }, Math.max(1, this.#idleTimeout / 4));
  }
}

/** Tells a peer's application the socket's writing paused or resumed; a throw ends that peer. */
/** A peer's key in `tendrils`: its address, `host:port` (`[host]:port` for IPv6). */
function peerKey(host: string, port: number): string {
  return formatAddress({ transport: "udp", hostname: host, port });
}

/** An integer option of at least `min`, or a RangeError that names it and the value. */
function checkOption(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `Cannot create UDP manager: ${name} must be a safe integer of at least ${min}, got ${value}`,
    );
  }
  return value;
}

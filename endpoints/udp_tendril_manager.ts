import type { Framer } from "../framing/framer.ts";
import { IdentityFramer } from "../framing/identity.ts";
import { TransportError } from "../transport/errors.ts";
import type { FramedProtocol } from "../framing/framed_protocol.ts";
import type { DatagramProtocol } from "../transport/protocols.ts";
import type { ExtraInfo, Transport, WriteBufferLimits } from "../transport/types.ts";
import type { UdpTransport } from "../transport/udp_transport.ts";
import { type Address, formatAddress, type HostPort, parseAddress } from "./address.ts";
import { createDatagramEndpoint, resolveUdpAddress } from "./create_datagram_endpoint.ts";
import { FramedTendril } from "./framed_tendril.ts";
import type { Acceptor, Tendril } from "./tendril.ts";
import type { TendrilManager, TendrilManagerOptions } from "./tendril_manager.ts";

/** Datagrams kept for a peer while its acceptor runs or its reading is paused. */
const QUEUED_PER_PEER = 16;

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
   * The most peers at once. Datagrams from further new peers are dropped and counted in
   * `droppedPeers`, so a flood of spoofed source addresses cannot grow memory.
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
   * drops the datagram (counted in `droppedPeers`).
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
 * Accepts and opens UDP pseudo-connections through one socket (Tendril's
 * `UDPTendrilManager`): datagrams are sorted by remote address into per-peer tendrils, each
 * with its own application and framers (an identity framer by default: one datagram, one
 * frame; each frame sent is one datagram). New peers go through the acceptor; idle peers
 * expire; the peer table and the acceptor backlog are bounded, and what does not fit is
 * dropped and counted. Get one with `getManager("udp", localAddress)`.
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
  readonly #peers = new Map<string, Peer<F>>();
  readonly #accepted = new Map<string, Tendril<F>>();
  #socket: UdpTransport | undefined;
  #acceptor: Acceptor<F> | undefined;
  #waiting = 0;
  #running = false;
  #shutDown = false;
  #rejected = 0;
  #droppedPeers = 0;
  #droppedDatagrams = 0;
  #sweep: ReturnType<typeof setTimeout> | undefined;

  /**
   * Creates a manager; `getManager()` finds or creates the one of an endpoint.
   *
   * @param localAddress The socket's local address.
   * @param options Framer, idle timeout and the bounds of the peer table.
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
    this.#idleTimeout = options.idleTimeout ?? 60_000;
    this.#maxPeers = options.maxPeers ?? 1024;
    this.#backlog = options.backlog ?? 64;
    this.#acceptFilter = options.acceptFilter;
    this.#onError = options.onError;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 4 * 1024 * 1024;
  }

  get localAddress(): Deno.NetAddr | undefined {
    return this.#socket?.getExtraInfo("sockname") as Deno.NetAddr | undefined;
  }

  get running(): boolean {
    return this.#running;
  }

  get shutDown(): boolean {
    return this.#shutDown;
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

  async start(acceptor?: Acceptor<F>): Promise<void> {
    if (this.#shutDown) throw new TransportError("Cannot start: the manager was shut down");
    if (this.#running) throw new TransportError("Cannot start: the manager is already running");
    await this.#bind();
    this.#acceptor = acceptor;
    this.#running = true;
  }

  async connect(
    target: Address | Deno.Addr,
    acceptor: Acceptor<F>,
  ): Promise<Tendril<F> | undefined> {
    if (!this.#running) throw new TransportError("Cannot connect: the manager is not running");
    // Replies come from an IP address: resolve a name now so they find this tendril.
    const addr = await resolveUdpAddress(target as Address);
    const key = peerKey(addr);
    if (this.#peers.has(key)) {
      throw new TransportError(`Cannot connect to ${key}: a tendril to it exists already`);
    }
    const peer = this.#open(addr, key, acceptor);
    const outcome = await peer.tendril.outcome;
    if (outcome === "accepted") return peer.tendril;
    if (outcome === "rejected") return undefined;
    throw (await peer.tendril.closed) ?? new TransportError("Tendril lost while accepting it");
  }

  stop(): Promise<void> {
    this.#running = false;
    this.#acceptor = undefined;
    return Promise.resolve();
  }

  async shutdown(): Promise<void> {
    this.#shutDown = true;
    await this.stop();
    const peers = [...this.#peers.values()];
    for (const peer of peers) peer.abort();
    await Promise.all(peers.map((peer) => peer.closed));
    this.#socket?.abort();
    await this.#socket?.closed;
    clearTimeout(this.#sweep);
  }

  // ---- What peers may use -------------------------------------------------------------------

  readonly #host: PeerHost<F> = {
    send: (data, addr) => {
      if (!this.#socket || this.#socket.isClosing()) {
        throw new TransportError("Cannot send: the UDP socket is closed");
      }
      this.#socket.sendto(data, addr);
    },
    socket: () => this.#socket!,
    release: (peer) => {
      if (this.#peers.get(peer.key) === peer) this.#peers.delete(peer.key);
      if (this.#accepted.get(peer.key) === peer.tendril) this.#accepted.delete(peer.key);
      if (this.#peers.size === 0) {
        clearTimeout(this.#sweep);
        this.#sweep = undefined;
      }
    },
    dropped: () => this.#droppedDatagrams++,
    reserve: (bytes) => {
      if (this.#queuedBytes + bytes > this.#maxQueuedBytes) return false;
      this.#queuedBytes += bytes;
      return true;
    },
    unreserve: (bytes) => this.#queuedBytes -= bytes,
  };

  // ---- Demultiplexing ------------------------------------------------------------------------

  async #bind(): Promise<void> {
    if (this.#socket) return;
    const demux: DatagramProtocol = {
      datagramReceived: (data, addr) => this.#received(data, addr),
      pauseWriting: () => this.#forEachPeer((peer) => peer.protocol.pauseWriting?.()),
      resumeWriting: () => this.#forEachPeer((peer) => peer.protocol.resumeWriting?.()),
      connectionLost: (error) => {
        this.#running = false;
        this.#acceptor = undefined;
        this.#forEachPeer((peer) => peer.abort(error));
      },
    };
    const { transport } = await createDatagramEndpoint(() => demux, {
      localAddress: this.#local,
      // Each datagram is copied once, into its peer's receive buffer (or its queue).
      reuseReceiveBuffer: true,
    });
    this.#socket = transport;
  }

  #received(data: Uint8Array, addr: Deno.NetAddr): void {
    const key = peerKey(addr);
    const known = this.#peers.get(key);
    if (known) {
      known.receive(data);
      return;
    }
    const acceptor = this.#acceptor;
    if (!acceptor) {
      this.#droppedDatagrams++;
      return;
    }
    if (this.#peers.size >= this.#maxPeers || this.#waiting >= this.#backlog) {
      this.#droppedPeers++;
      return;
    }
    let peer: Peer<F>;
    try {
      if (this.#acceptFilter && !this.#acceptFilter(addr, data)) {
        this.#droppedPeers++;
        return;
      }
      peer = this.#open({ ...addr }, key, acceptor); // the address object outlives this call
    } catch (error) {
      // A user callback threw: this peer is dropped, the manager goes on.
      this.#droppedPeers++;
      this.#onError?.(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    peer.receive(data);
  }

  /** Opens a peer: its tendril starts with reading paused while the acceptor runs. */
  #open(addr: Deno.NetAddr, key: string, acceptor: Acceptor<F>): Peer<F> {
    const tendril = new FramedTendril("udp", this.#framer(), acceptor, { batchWrites: false });
    const peer = new Peer(this.#host, addr, key, tendril);
    this.#peers.set(key, peer);
    this.#waiting++;
    tendril.outcome.then((outcome) => {
      this.#waiting--;
      if (outcome === "rejected") this.#rejected++;
      if (outcome === "accepted" && this.#peers.get(key) === peer) this.#accepted.set(key, tendril);
    });
    peer.start();
    this.#scheduleSweep();
    return peer;
  }

  #forEachPeer(action: (peer: Peer<F>) => void): void {
    for (const peer of [...this.#peers.values()]) action(peer);
  }

  /** Closes idle peers; runs while there are peers. */
  #scheduleSweep(): void {
    if (this.#sweep !== undefined || this.#peers.size === 0) return;
    this.#sweep = setTimeout(() => {
      this.#sweep = undefined;
      const now = performance.now();
      this.#forEachPeer((peer) => {
        if (now - peer.lastActivity >= this.#idleTimeout) {
          peer.abort(new TransportError(`UDP peer idle for ${this.#idleTimeout} ms`));
        }
      });
      this.#scheduleSweep();
    }, Math.max(1, this.#idleTimeout / 4));
  }
}

/** What a peer needs from its manager. */
interface PeerHost<F> {
  /** Sends a datagram. */
  send(data: Uint8Array, addr: Deno.NetAddr): void;
  /** The socket's transport (for buffer sizes and addresses). */
  socket(): UdpTransport;
  /** Forgets a closed peer. */
  release(peer: Peer<F>): void;
  /** Counts a datagram dropped for a peer. */
  dropped(): void;
  /** Takes `bytes` from the shared queue budget; false when it is spent. */
  reserve(bytes: number): boolean;
  /** Gives `bytes` back to the queue budget. */
  unreserve(bytes: number): void;
}

/**
 * One UDP peer's side of the socket, seen as a stream transport by its `FramedProtocol`:
 * datagrams from the peer are appended to its receive buffer, writes go out as datagrams.
 */
class Peer<F> implements Transport {
  readonly key: string;
  readonly tendril: FramedTendril<F>;
  lastActivity = performance.now();
  readonly #host: PeerHost<F>;
  readonly #addr: Deno.NetAddr;
  readonly #queued: Uint8Array[] = [];
  readonly #closed = Promise.withResolvers<Error | undefined>();
  #paused = false;
  #closing = false;

  constructor(
    host: PeerHost<F>,
    addr: Deno.NetAddr,
    key: string,
    tendril: FramedTendril<F>,
  ) {
    this.#host = host;
    this.#addr = addr;
    this.key = key;
    this.tendril = tendril;
  }

  /** The protocol driven by this peer. */
  get protocol(): FramedProtocol<F> {
    return this.tendril.framed;
  }

  get closed(): Promise<Error | undefined> {
    return this.#closed.promise;
  }

  start(): void {
    this.tendril.framed.connectionMade(this);
  }

  /** A datagram from the peer: delivered now, queued while paused (bounded), or dropped. */
  receive(data: Uint8Array): void {
    if (this.#closing) return;
    this.lastActivity = performance.now();
    if (this.#paused) {
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

  #deliver(data: Uint8Array): void {
    const framed = this.tendril.framed;
    try {
      framed.getBuffer(data.byteLength).set(data);
      framed.bufferUpdated(data.byteLength);
    } catch (error) {
      this.abort(error instanceof Error ? error : new Error(String(error)));
    }
  }

  // ---- Transport -----------------------------------------------------------------------------

  write(data: Uint8Array): void {
    if (this.#closing) throw new TransportError("Cannot write to a closing tendril");
    this.lastActivity = performance.now();
    this.#host.send(data, this.#addr);
  }

  writeLines(chunks: Iterable<Uint8Array>): void {
    for (const chunk of chunks) this.write(chunk);
  }

  /** UDP has no end of stream: does nothing. */
  writeEof(): void {}

  canWriteEof(): boolean {
    return false;
  }

  close(): void {
    this.abort();
  }

  abort(error?: Error): void {
    if (this.#closing) return;
    this.#closing = true;
    for (const data of this.#queued) this.#host.unreserve(data.byteLength);
    this.#queued.length = 0;
    this.#host.release(this);
    // As a transport does, report the loss after the current callback has returned.
    queueMicrotask(() => {
      this.tendril.framed.connectionLost(error);
      this.#closed.resolve(error);
    });
  }

  isClosing(): boolean {
    return this.#closing;
  }

  isReading(): boolean {
    return !this.#paused && !this.#closing;
  }

  pauseReading(): void {
    this.#paused = true;
  }

  resumeReading(): void {
    if (!this.#paused) return;
    this.#paused = false;
    while (this.#queued.length > 0 && !this.#paused && !this.#closing) {
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
      peername: this.#addr,
      conn: this.#host.socket().getExtraInfo("conn"),
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

/** A peer's key: its address, with IPv4-mapped IPv6 addresses in their IPv4 form. */
function peerKey(addr: Deno.NetAddr): string {
  const host = addr.hostname;
  const plain = host.startsWith("::ffff:") && host.includes(".") ? host.slice(7) : host;
  return formatAddress({ transport: "udp", hostname: plain.toLowerCase(), port: addr.port });
}

import { deliverError } from "../transport/callback_error.ts";
import type { Framer } from "../framing/framer.ts";
import type { FramedProtocol } from "../framing/framed_protocol.ts";
import { LineFramer } from "../framing/line.ts";
import { TransportError } from "../transport/errors.ts";
import { type Address, formatAddress, type HostPort, parseAddress } from "./address.ts";
import { createConnection } from "./create_connection.ts";
import { FramedTendril } from "./_framed_tendril.ts";
import { resolveHost } from "./_resolve_host.ts";
import {
  DEFAULT_SHUTDOWN_TIMEOUT,
  REFUSED_BY_PROTOCOL,
  Server,
  type ShutdownOptions,
} from "./server.ts";
import type { StreamTransport } from "../transport/stream_transport.ts";
import { checkDelay } from "../transport/_delay.ts";
import { addCounters, type ServerStats, zeroCounters } from "../transport/stats.ts";
import type { Acceptor, Tendril } from "./tendril.ts";
import type { TendrilManager, TendrilManagerOptions } from "./tendril_manager.ts";
import type { Wrapper, WrapperChain } from "./wrappers.ts";
import type { Deadlines } from "../transport/deadline_clock.ts";

/**
 * Accepts and opens TCP tendrils through one local endpoint (Tendril's `TCPTendrilManager`).
 * New tendrils start with a line framer (`\r\n` or `\n`), as in Tendril, unless
 * `options.framer` says otherwise. Get one with `getManager("tcp", localAddress)`.
 *
 * @typeParam F The frame type.
 *
 * @example Serve a line echo and talk to it
 * ```ts
 * import { Application, getManager, type Tendril } from "@plexus/net/endpoints";
 * import { assertEquals } from "@std/assert";
 *
 * class Echo extends Application {
 *   frameReceived(line: Uint8Array): void {
 *     this.sendFrame(line);
 *   }
 * }
 * class Client extends Application {
 *   readonly reply = Promise.withResolvers<string>();
 *   frameReceived(line: Uint8Array): void {
 *     this.reply.resolve(new TextDecoder().decode(line));
 *   }
 * }
 * const manager = getManager("tcp", "127.0.0.1:0");
 * await manager.start((tendril: Tendril) => new Echo(tendril));
 * const tendril = await manager.connect(manager.localAddress!, (t) => new Client(t));
 * tendril!.sendFrame(new TextEncoder().encode("hello"));
 * assertEquals(await (tendril!.application as Client).reply.promise, "hello");
 * await manager.shutdown();
 * ```
 */
export class TcpTendrilManager<F = Uint8Array> implements TendrilManager<F> {
  readonly proto = "tcp" as const;
  readonly endpoint: string;
  readonly #local: { hostname: string; port: number };
  readonly #framer: () => Framer<F>;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #deadlines: Deadlines | undefined;
  readonly #tendrils = new Map<string, Tendril<F>>();
  readonly #outgoing = new Set<FramedTendril<F>>();
  /** Every server started (a restart after stop() makes another); shutdown() ends them all. */
  readonly #servers = new Set<Server<FramedProtocol<F>>>();
  /** Connects still dialling: shutdown() cancels them. */
  readonly #dialling = new Set<AbortController>();
  #server: Server<FramedProtocol<F>> | undefined;
  #bound: Deno.NetAddr | undefined;
  #running = false;
  #shutDown = false;
  #shutdown: Promise<void> | undefined;
  #rejected = 0;
  /** Errors the manager survives, to `onError` (by default logged, as a `Server` does). */
  readonly #report = (error: Error): void => deliverError(this.#onError, error);

  /**
   * Creates a manager; `getManager()` finds or creates the one of an endpoint.
   *
   * @param localAddress Where to listen and connect from.
   * @param options The framer new tendrils start with.
   */
  constructor(
    localAddress?: string | HostPort,
    options?: TendrilManagerOptions<F>,
  ) {
    localAddress ??= "0.0.0.0:0";
    options ??= {};
    const parsed = parseAddress(localAddress);
    if (parsed.transport !== "tcp") throw new TypeError("A TCP manager needs a host and port");
    this.#local = parsed;
    this.endpoint = formatAddress(parsed);
    this.#framer = options.framer ?? (() => new LineFramer() as unknown as Framer<F>);
    this.#onError = options.onError;
    this.#deadlines = options.deadlines;
  }

  get localAddress(): Deno.NetAddr | undefined {
    return this.#bound;
  }

  get running(): boolean {
    return this.#running;
  }

  get shutDown(): boolean {
    return this.#shutDown;
  }

  get tendrils(): ReadonlyMap<string, Tendril<F>> {
    return this.#tendrils;
  }

  get rejectedConnections(): number {
    return this.#rejected;
  }

  /**
   * The statistics of the connections it accepted, over every `start()` (see `Server.stats()`);
   * tendrils the acceptor refused count as rejected. Outgoing `connect()`s are not included.
   *
   * @example
   * ```ts
   * import { TcpTendrilManager } from "@plexus/net/endpoints";
   *
   * const manager = new TcpTendrilManager("127.0.0.1:0");
   * console.assert(manager.stats().accepted === 0);
   * ```
   */
  stats(): ServerStats {
    const sum: ServerStats = {
      accepted: 0,
      active: 0,
      rejected: 0,
      closed: 0,
      closedByIdleTimeout: 0,
      closedByDeadline: 0,
      live: zeroCounters(),
      total: zeroCounters(),
    };
    for (const server of this.#servers) {
      const stats = server.stats();
      sum.accepted += stats.accepted;
      sum.active += stats.active;
      sum.rejected += stats.rejected;
      sum.closed += stats.closed;
      sum.closedByIdleTimeout += stats.closedByIdleTimeout;
      sum.closedByDeadline += stats.closedByDeadline;
      addCounters(sum.live, stats.live);
      addCounters(sum.total, stats.total);
    }
    return sum;
  }

  async start(acceptor?: Acceptor<F>, wrapper?: Wrapper | WrapperChain): Promise<void> {
    this.#checkCanStart();
    this.#running = true;
    if (!acceptor) return; // Tendril: without an acceptor nothing is accepted; connect() works.
    const server: Server<FramedProtocol<F>> = new Server(
      () =>
        this.#adopt(
          new FramedTendril("tcp", this.#framer(), acceptor, undefined, "server", this.#report),
          server,
        ),
      // Tendril peers may rightly stay silent (they speak when they have something to say):
      // no limit to the first frame; a frame under way must still complete in time.
      {
        wrapper,
        onError: this.#onError,
        // An option given as undefined is not given: no first-frame limit then either.
        deadlines: {
          ...this.#deadlines,
          firstFrameTimeout: this.#deadlines?.firstFrameTimeout ?? Infinity,
        },
      },
    );
    // Tracked before it listens: a stop() or shutdown() while it opens closes it.
    this.#server = server;
    this.#servers.add(server);
    try {
      [this.#bound] = (await server.listen(this.#local)) as Deno.NetAddr[];
    } catch (error) {
      this.#servers.delete(server);
      if (this.#server === server) {
        this.#server = undefined;
        this.#running = false;
      }
      throw error;
    }
  }

  async connect(
    target: Address | Deno.Addr,
    acceptor: Acceptor<F>,
    wrapper?: Wrapper | WrapperChain,
  ): Promise<Tendril<F> | undefined> {
    if (!this.#running) throw new TransportError("Cannot connect: the manager is not running");
    const tendril = new FramedTendril(
      "tcp",
      this.#framer(),
      acceptor,
      undefined,
      "client",
      this.#report,
    );
    // Registered before any await: a shutdown() from now on cancels this dial.
    const dialling = new AbortController();
    this.#dialling.add(dialling);
    try {
      const bindHost = await this.#bindHost();
      if (this.#shutDown) throw new TransportError("Cannot connect: the manager was shut down");
      await createConnection(() => this.#adopt(tendril), target, {
        wrapper,
        signal: dialling.signal,
        // Bind the local host only: the port may be our own listener's. A Unix socket has no
        // local address to bind.
        localAddress: bindHost === undefined || (typeof target === "object" && "path" in target)
          ? undefined
          : { hostname: bindHost },
      });
    } finally {
      this.#dialling.delete(dialling);
    }
    this.#outgoing.add(tendril);
    tendril.closed.then(() => this.#outgoing.delete(tendril));
    if (this.#shutDown) {
      tendril.framed.transport.abort();
      throw new TransportError("Cannot connect: the manager was shut down");
    }
    const outcome = await tendril.outcome;
    if (outcome === "accepted") return tendril;
    if (outcome === "rejected") return undefined;
    throw (await tendril.closed) ?? new TransportError("Connection lost while accepting it");
  }

  async stop(): Promise<void> {
    this.#running = false;
    const server = this.#server;
    this.#server = undefined;
    await server?.close();
  }

  shutdown(options?: ShutdownOptions): Promise<void> {
    const timeout = options?.timeout === undefined
      ? DEFAULT_SHUTDOWN_TIMEOUT
      : checkDelay("Cannot shut down: timeout", options.timeout, 0, true);
    return this.#shutdown ??= this.#runShutdown(timeout);
  }

  /**
   * Ends every tendril as a `Server`'s shutdown ends its connections: what the applications
   * sent is flushed before each closes, and what is still open after `timeout` is aborted.
   */
  async #runShutdown(timeout: number): Promise<void> {
    this.#shutDown = true;
    for (const dialling of this.#dialling) dialling.abort();
    await this.stop();
    const outgoing = [...this.#outgoing];
    for (const tendril of outgoing) tendril.framed.transport.close();
    const late = timeout === Infinity ? undefined : setTimeout(() => {
      for (const tendril of outgoing) tendril.framed.transport.abort();
    }, timeout);
    try {
      await Promise.all([
        ...[...this.#servers].map((server) => server.shutdown({ timeout })),
        ...outgoing.map((tendril) => tendril.closed),
      ]);
    } finally {
      clearTimeout(late);
    }
  }

  /** The IP address outgoing connections bind to: none for a wildcard; a name is resolved. */
  #bindHost(): Promise<string | undefined> {
    const host = this.#local.hostname;
    if (host === "0.0.0.0" || host === "::") return Promise.resolve(undefined);
    return resolveHost(host); // a socket binds to an address, not a name
  }

  /**
   * Tracks a tendril once accepted (keyed `local remote`), and counts refusals (one `server`
   * accepted counts there as refused by its protocol; without `server`: one `connect()` opened).
   */
  #adopt(tendril: FramedTendril<F>, server?: Server<FramedProtocol<F>>): FramedProtocol<F> {
    tendril.outcome.then((outcome) => {
      if (outcome === "rejected") {
        this.#rejected++;
        const transport = tendril.framed.transport as StreamTransport | undefined;
        if (server && transport) server[REFUSED_BY_PROTOCOL](transport);
      }
      if (outcome !== "accepted") return;
      const key = `${formatAddress(tendril.localAddress)} ${formatAddress(tendril.remoteAddress)}`;
      this.#tendrils.set(key, tendril);
      tendril.closed.then(() => {
        if (this.#tendrils.get(key) === tendril) this.#tendrils.delete(key);
      });
    });
    return tendril.framed;
  }

  #checkCanStart(): void {
    if (this.#shutDown) throw new TransportError("Cannot start: the manager was shut down");
    if (this.#running) throw new TransportError("Cannot start: the manager is already running");
  }
}

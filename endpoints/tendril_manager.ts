import type { Framer } from "../framing/framer.ts";
import type { ServerStats } from "../transport/stats.ts";
import type { Deadlines } from "../transport/deadline_clock.ts";
import { formatAddress, type HostPort, parseAddress } from "./address.ts";
import type { Address } from "./address.ts";
import { TcpTendrilManager } from "./tcp_tendril_manager.ts";
import type { Acceptor, Tendril } from "./tendril.ts";
import { UdpTendrilManager, type UdpTendrilManagerOptions } from "./udp_tendril_manager.ts";
import type { Wrapper, WrapperChain } from "./wrappers.ts";
import type { ShutdownOptions } from "./server.ts";

/** Options of a tendril manager. */
export interface TendrilManagerOptions<F = Uint8Array> {
  /**
   * Makes the framer each new tendril starts with (both directions).
   *
   * @default {a line framer for TCP, an identity framer (one datagram, one frame) for UDP}
   */
  framer?: () => Framer<F>;
  /**
   * Called with every error the manager survives: errors thrown by user callbacks it runs for
   * a datagram (a UDP `acceptFilter` or `framer` factory: the peer is dropped and counted),
   * failed UDP sends and receives the socket survived (a port unreachable, say), an acceptor's
   * throw (other than `RejectConnection`) for a connection or peer it accepted (the connection
   * is aborted), and an application's `closed()` that threw after its connection was lost
   * while the acceptor ran; for TCP, failed `accept()`s (a client that reset before it was accepted is skipped at once)
   * and errors a callback threw after its connection was gone (see `Server`'s `onError`).
   *
   * @default {UDP: ignore them; TCP: log them with console.error}
   */
  onError?: (error: Error) => void;
  /**
   * TCP: the frame deadlines of the connections the manager accepts (see `Server`'s
   * `deadlines`); an application hears one run out through `limitExceeded()`. UDP peers run
   * none.
   *
   * @default {no first-frame limit (a tendril peer may rightly stay silent); a frame under way must complete within 30 s}
   */
  deadlines?: Deadlines;
}

/**
 * Accepts and opens tendrils through one local endpoint (Tendril's `TendrilManager`).
 *
 * `start()` listens (with an acceptor) and makes `connect()` possible; `stop()` stops
 * accepting — really: the listener is closed at once — and `shutdown()` also ends every
 * tendril gracefully (what was sent goes out first) and resolves once they are gone.
 *
 * @typeParam F The frame type.
 */
export interface TendrilManager<F = Uint8Array> {
  /** `"tcp"`, `"udp"`, or the name the manager's factory was registered under. */
  readonly proto: string;
  /** The local endpoint as given, `host:port` (the registry key). */
  readonly endpoint: string;
  /** The bound local address, once started (with the port the OS chose). */
  readonly localAddress: Deno.NetAddr | undefined;
  /** Whether the manager is started and not stopped. */
  readonly running: boolean;
  /** Whether `shutdown()` was called; a shut down manager cannot start again. */
  readonly shutDown: boolean;
  /**
   * The live tendrils: a UDP manager's by remote address (`host:port`), a TCP manager's by
   * local and remote address (`host:port host:port`), since one remote may be reached twice.
   */
  readonly tendrils: ReadonlyMap<string, Tendril<F>>;
  /** How many new connections the acceptor refused. */
  readonly rejectedConnections: number;
  /**
   * The manager's statistics: its connections (TCP) or peers (UDP) accepted, active, rejected
   * and closed, and their counters summed (see {@linkcode ServerStats}).
   */
  stats(): ServerStats;
  /**
   * Starts the manager: with an acceptor, new connections (TCP) or peers (UDP) are accepted
   * through it; the wrapper applies to accepted TCP connections.
   *
   * @throws {TransportError} When already running or shut down, or the address is taken.
   */
  start(acceptor?: Acceptor<F>, wrapper?: Wrapper | WrapperChain): Promise<void>;
  /**
   * Opens a tendril to `target` from this endpoint and makes its application with `acceptor`.
   *
   * @returns The tendril, or `undefined` when the acceptor refused it.
   * @throws {TransportError} When the manager is not running or the connection fails.
   */
  connect(
    target: Address | Deno.Addr,
    acceptor: Acceptor<F>,
    wrapper?: Wrapper | WrapperChain,
  ): Promise<Tendril<F> | undefined>;
  /** Stops accepting new connections; live tendrils go on. */
  stop(): Promise<void>;
  /**
   * Stops, ends every tendril, and resolves once all of them are closed. Gracefully, as a
   * `Server`'s shutdown: what the applications sent goes out first (TCP connections flush,
   * then close; a UDP socket sends what is queued on it); TCP connections still open after
   * `timeout` ms (default 30 000) are aborted. Calling it again returns the same promise.
   *
   * @param options How long the tendrils get to flush.
   * @throws {RangeError} For a bad `timeout`, before anything changes: a shutdown already
   * running goes on as it began.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}

// deno-lint-ignore no-explicit-any
const managers = new Map<string, TendrilManager<any>>();

/**
 * Makes the manager of a local endpoint for one network protocol: what
 * {@linkcode registerManager} registers and {@linkcode getManager} calls on first use.
 *
 * @param localAddress The local endpoint as given to `getManager`.
 * @param options The options given to `getManager`.
 * @returns The new manager.
 *
 * @example A factory of TCP managers that refuses IPv6 endpoints
 * ```ts
 * import { TcpTendrilManager, type TendrilManagerFactory } from "@plexus/net/endpoints";
 *
 * const ipv4Only: TendrilManagerFactory = (address, options) => {
 *   if (typeof address === "string" && address.startsWith("[")) {
 *     throw new TypeError(`Not an IPv4 endpoint: ${address}`);
 *   }
 *   return new TcpTendrilManager(address, options);
 * };
 * console.assert(ipv4Only("127.0.0.1:0", {}) instanceof TcpTendrilManager);
 * ```
 */
export type TendrilManagerFactory = (
  localAddress: string | HostPort,
  // deno-lint-ignore no-explicit-any
  options: TendrilManagerOptions<any>,
  // deno-lint-ignore no-explicit-any
) => TendrilManager<any>;

const factories = new Map<string, TendrilManagerFactory>([
  ["tcp", (localAddress, options) => new TcpTendrilManager(localAddress, options)],
  ["udp", (localAddress, options) => new UdpTendrilManager(localAddress, options)],
]);

/**
 * Registers the manager factory of a network protocol, so that `getManager(proto, ...)` makes
 * and finds managers of the user's own (Tendril registers managers by entry point). Names are
 * case-insensitive; `"tcp"` and `"udp"` are taken.
 *
 * @param proto The protocol's name, as `getManager` will be given it.
 * @param factory Makes a manager for a local endpoint.
 * @throws {TypeError} When the name is empty or already registered.
 *
 * @example A manager of one's own, found through getManager
 * ```ts
 * import { getManager, registerManager, TcpTendrilManager } from "@plexus/net/endpoints";
 * import { LineFramer } from "@plexus/net/framing";
 *
 * // TCP tendrils that speak lines of at most 80 bytes, under a name of their own.
 * registerManager("short-lines", (address, options) =>
 *   new TcpTendrilManager(address, {
 *     ...options,
 *     framer: () => new LineFramer({ maxLength: 80 }),
 *   }));
 * const manager = getManager("short-lines", "127.0.0.1:0");
 * console.assert(manager instanceof TcpTendrilManager);
 * console.assert(getManager("short-lines", "127.0.0.1:0") === manager);
 * ```
 */
export function registerManager(proto: string, factory: TendrilManagerFactory): void {
  const name = String(proto).toLowerCase();
  if (name === "") throw new TypeError("Cannot register a manager: the protocol name is empty");
  if (factories.has(name)) {
    throw new TypeError(
      `Cannot register a manager for ${JSON.stringify(proto)}: the name is already registered`,
    );
  }
  factories.set(name, factory);
}

/**
 * Returns the manager for a network protocol and local endpoint, making it on first use
 * (Tendril's `get_manager`). The same protocol and endpoint give the same manager until it
 * is shut down.
 *
 * @param proto `"tcp"`, `"udp"`, or a name given to {@linkcode registerManager}.
 * @param localAddress The local endpoint, `"host:port"` or `{ hostname, port }`.
 * @param options Options for a new manager (ignored when it exists already).
 * @throws {TypeError} For an unknown protocol or a malformed address.
 *
 * @example One manager per endpoint
 * ```ts
 * import { getManager } from "@plexus/net/endpoints";
 * import { assert } from "@std/assert";
 *
 * const tcp = getManager("tcp", "127.0.0.1:0");
 * assert(getManager("tcp", "127.0.0.1:0") === tcp);
 * assert(getManager("udp", "127.0.0.1:0").proto === "udp");
 * ```
 */
export function getManager<F = Uint8Array>(
  proto: "tcp",
  localAddress?: string | HostPort,
  options?: TendrilManagerOptions<F>,
): TcpTendrilManager<F>;
/** Returns the UDP manager of a local endpoint (see the TCP overload). */
export function getManager<F = Uint8Array>(
  proto: "udp",
  localAddress?: string | HostPort,
  options?: UdpTendrilManagerOptions<F>,
): UdpTendrilManager<F>;
/** Returns the manager of a protocol registered with {@linkcode registerManager}. */
export function getManager<F = Uint8Array>(
  proto: string,
  localAddress?: string | HostPort,
  options?: TendrilManagerOptions<F>,
): TendrilManager<F>;
export function getManager<F = Uint8Array>(
  proto: string,
  localAddress?: string | HostPort,
  options?: UdpTendrilManagerOptions<F>,
): TendrilManager<F> {
  localAddress ??= "0.0.0.0:0";
  options ??= {};
  const name = String(proto).toLowerCase();
  const factory = factories.get(name);
  if (!factory) {
    throw new TypeError(
      `Unknown protocol ${JSON.stringify(proto)}: expected "tcp", "udp" or a name given to ` +
        "registerManager()",
    );
  }
  const key = `${name} ${formatAddress(parseAddress(localAddress))}`;
  // Shut-down managers leave the registry here, so it holds no more than the live ones.
  for (const [k, m] of managers) if (m.shutDown) managers.delete(k);
  const existing = managers.get(key);
  if (existing) return existing;
  const manager: TendrilManager<F> = factory(localAddress, options);
  managers.set(key, manager);
  return manager;
}

import type { Framer } from "../framing/framer.ts";
import { formatAddress, type HostPort, parseAddress } from "./address.ts";
import type { Address } from "./address.ts";
import { TcpTendrilManager } from "./tcp_tendril_manager.ts";
import type { Acceptor, Tendril } from "./tendril.ts";
import { UdpTendrilManager, type UdpTendrilManagerOptions } from "./udp_tendril_manager.ts";
import type { Wrapper, WrapperChain } from "./wrappers.ts";

/** Options of a tendril manager. */
export interface TendrilManagerOptions<F = Uint8Array> {
  /**
   * Makes the framer each new tendril starts with (both directions).
   *
   * @default {a line framer for TCP, an identity framer (one datagram, one frame) for UDP}
   */
  framer?: () => Framer<F>;
  /**
   * Called with errors thrown by user callbacks the manager runs for a datagram (a UDP
   * `acceptFilter` or `framer` factory): the peer is dropped and counted, the manager goes on.
   *
   * @default {ignore them}
   */
  onError?: (error: Error) => void;
}

/**
 * Accepts and opens tendrils through one local endpoint (Tendril's `TendrilManager`).
 *
 * `start()` listens (with an acceptor) and makes `connect()` possible; `stop()` stops
 * accepting — really: the listener is closed at once — and `shutdown()` also ends every
 * tendril and resolves once they are gone.
 *
 * @typeParam F The frame type.
 */
export interface TendrilManager<F = Uint8Array> {
  /** `"tcp"` or `"udp"`. */
  readonly proto: "tcp" | "udp";
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
  /** Stops, ends every tendril, and resolves once all of them are closed. */
  shutdown(): Promise<void>;
}

// deno-lint-ignore no-explicit-any
const managers = new Map<string, TendrilManager<any>>();

/**
 * Returns the manager for a network protocol and local endpoint, making it on first use
 * (Tendril's `get_manager`). The same protocol and endpoint give the same manager until it
 * is shut down.
 *
 * @param proto `"tcp"` or `"udp"`.
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
export function getManager<F = Uint8Array>(
  proto: "tcp" | "udp",
  localAddress: string | HostPort = "0.0.0.0:0",
  options: UdpTendrilManagerOptions<F> = {},
): TendrilManager<F> {
  const name = String(proto).toLowerCase();
  if (name !== "tcp" && name !== "udp") {
    throw new TypeError(`Unknown protocol ${JSON.stringify(proto)}: expected "tcp" or "udp"`);
  }
  const key = `${name} ${formatAddress(parseAddress(localAddress))}`;
  const existing = managers.get(key);
  if (existing && !existing.shutDown) return existing;
  const manager = name === "tcp"
    ? new TcpTendrilManager<F>(localAddress, options)
    : new UdpTendrilManager<F>(localAddress, options);
  managers.set(key, manager);
  return manager;
}

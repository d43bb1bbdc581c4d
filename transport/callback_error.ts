import { describeError, TransportError } from "./errors.ts";

/**
 * A protocol callback threw where there is no connection left to end with it: a throwing
 * `connectionLost()`, say. Transports hand it to their `onError` option (a `Server` routes it
 * to its own `onError`), never to `reportError()`, which would end a Deno process: one bad
 * connection must not take a server down. The default logs it, as asyncio's default
 * exception handler does.
 *
 * @example What a server's `onError` receives
 * ```ts
 * import { CallbackError } from "@plexus/net/transport";
 *
 * const error = new CallbackError("connectionLost", "127.0.0.1:40000", new Error("boom"));
 * console.assert(error.message === "connectionLost() threw for the connection with 127.0.0.1:40000: boom");
 * console.assert(error.callback === "connectionLost");
 * ```
 */
export class CallbackError extends TransportError {
  /** The callback that threw, for example `"connectionLost"`. */
  readonly callback: string;
  /** The connection it was called for: the peer's address, or a name. */
  readonly connection: string;

  /**
   * Creates a callback error.
   *
   * @param callback The callback that threw.
   * @param connection The connection it was called for (the peer's address, or a name).
   * @param cause What it threw.
   */
  constructor(callback: string, connection: string, cause: unknown) {
    super(
      `${callback}() threw for the connection with ${connection}: ${describeError(cause)}`,
      { cause },
    );
    this.name = "CallbackError";
    this.callback = callback;
    this.connection = connection;
  }
}

/**
 * Where errors go that callbacks threw after the connection is gone: the default of every
 * transport's `onError`. It logs with `console.error`, as asyncio's default exception handler
 * does; it never throws.
 *
 * @param error The error to log.
 *
 * @example Route errors to a logger of your own instead
 * ```ts
 * import { CallbackError, logCallbackError } from "@plexus/net/transport";
 *
 * const onError = (error: Error) => error instanceof CallbackError ? logCallbackError(error) : undefined;
 * onError(new Error("not logged"));
 * ```
 */
export function logCallbackError(error: Error): void {
  console.error(error);
}

/**
 * Calls `onError` with `error`; if `onError` itself throws, logs both instead of letting the
 * exception escape (an uncaught exception would end the process).
 */
export function deliverError(onError: ((error: Error) => void) | undefined, error: Error): void {
  try {
    (onError ?? logCallbackError)(error);
  } catch (hookError) {
    logCallbackError(error);
    logCallbackError(
      new TransportError(`onError threw: ${describeError(hookError)}`, { cause: hookError }),
    );
  }
}

/** Names a connection by its peer's address for error messages: `host:port`, `[::1]:port`, a path. */
export function describePeer(addr: Deno.Addr | undefined): string {
  return formatPeer(addr) ?? "an unnamed peer";
}

/**
 * A peer's address as `host:port` (`[v6]:port`) or its socket path; `undefined` when it has
 * none. The one formatter behind error messages and trace names.
 */
export function formatPeer(addr: Deno.Addr | undefined): string | undefined {
  if (addr === undefined) return undefined;
  if (addr.transport === "tcp" || addr.transport === "udp") {
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    return `${host}:${addr.port}`;
  }
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return addr.path || undefined;
  }
  return undefined;
}

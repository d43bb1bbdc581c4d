import { delay as untypedDelay } from "@std/async/delay";
import { describeError, TransportError } from "../transport/errors.ts";
import { linkCancellation } from "../transport/_cancellation.ts";

/** std's `delay` (untyped JS through the npm alias): resolves after `ms`, rejects on abort. */
const delay: (ms: number, options?: { signal?: AbortSignal }) => Promise<void> = untypedDelay;

/**
 * Why one `accept()` failed, as an accept loop must treat it:
 *
 * | kind          | errors                                        | the loop                     |
 * | ------------- | --------------------------------------------- | ---------------------------- |
 * | `connection`  | one queued connection failed: reset or aborted before it was accepted (`ENOTCONN`, Deno's `NotConnected`; `ECONNABORTED`, `ECONNRESET`), or a network error accept(2) says to retry at once (`EPROTO`, `EPERM`, `ETIMEDOUT`, `ENETDOWN`, `ENETUNREACH`, `EHOSTDOWN`, `EHOSTUNREACH`, `ENONET`, `ENOPROTOOPT`, `EOPNOTSUPP`, `EINTR`, `EAGAIN`) | skips it at once |
 * | `exhausted`   | out of resources: `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM` | pauses (`backOff`), then goes on |
 * | `unknown`     | anything else (a persistent fault, say)       | pauses (`backOff`), so it cannot spin |
 * | `closed`      | the listener was closed (`BadResource`)       | stops                        |
 *
 * asyncio and libuv draw the same line: a reset before `accept()` is one client's problem and
 * must not slow anyone else, while running out of file descriptors is worth a pause so the
 * loop does not spin.
 */
export type AcceptFailureKind = "connection" | "exhausted" | "unknown" | "closed";

/** The error codes that mean the process or system ran out of something accept() needs. */
const EXHAUSTED: ReadonlySet<string> = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

/** The error codes of one failed connection, which accept(2) says to retry at once. */
const PER_CONNECTION: ReadonlySet<string> = new Set([
  "ENOTCONN",
  "ECONNABORTED",
  "ECONNRESET",
  "EPROTO",
  "EPERM",
  "ETIMEDOUT",
  "ENETDOWN",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EHOSTUNREACH",
  "ENONET",
  "ENOPROTOOPT",
  "EOPNOTSUPP",
  "EINTR",
  "EAGAIN",
  "EWOULDBLOCK",
]);

/** Deno's classes for the same failures, for errors that carry no `code`. */
const PER_CONNECTION_CLASSES = [
  Deno.errors.NotConnected,
  Deno.errors.ConnectionAborted,
  Deno.errors.ConnectionReset,
  Deno.errors.Interrupted,
  Deno.errors.WouldBlock,
  Deno.errors.TimedOut,
];

/**
 * An `accept()` that failed: {@linkcode acceptConnections} reports one per failure through
 * `onError` and goes on (or stops, for `closed`).
 *
 * @example Tell a skipped reset from resource exhaustion
 * ```ts
 * import { AcceptError } from "@plexus/net/endpoints";
 *
 * const error = AcceptError.from(new Deno.errors.NotConnected("Transport endpoint is not connected"));
 * console.assert(error.kind === "connection");
 * console.assert(error.message.startsWith("Accept failed, connection skipped"));
 * ```
 */
export class AcceptError extends TransportError {
  /** What the failure means for the accept loop. */
  readonly kind: AcceptFailureKind;

  /**
   * Creates an accept error.
   *
   * @param kind What the failure means for the accept loop.
   * @param message What failed.
   * @param options `cause`: the error `accept()` threw.
   */
  constructor(kind: AcceptFailureKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AcceptError";
    this.kind = kind;
  }

  /**
   * Classifies an error thrown by `listener.accept()`.
   *
   * @param error What `accept()` threw.
   * @param backOff The pause after an `exhausted` or `unknown` failure, for the message.
   * @returns The classified error, with `error` as its cause.
   */
  static from(error: unknown, backOff = DEFAULT_ACCEPT_BACKOFF): AcceptError {
    const code = (error as { code?: unknown } | null)?.code;
    let kind: AcceptFailureKind = "unknown";
    if (error instanceof Deno.errors.BadResource) kind = "closed";
    else if (typeof code === "string" && EXHAUSTED.has(code)) kind = "exhausted";
    else if (typeof code === "string" ? PER_CONNECTION.has(code) : isPerConnection(error)) {
      kind = "connection";
    }
    const what = {
      connection: "connection skipped",
      exhausted: `out of resources, pausing ${backOff} ms`,
      unknown: `pausing ${backOff} ms`,
      closed: "the listener is closed",
    }[kind];
    return new AcceptError(kind, `Accept failed, ${what}: ${describeError(error)}`, {
      cause: error,
    });
  }
}

/** The pause after `accept()` ran out of resources (asyncio's `ACCEPT_RETRY_DELAY`). */
export const DEFAULT_ACCEPT_BACKOFF = 1000;

/** Options of {@linkcode acceptConnections}. */
export interface AcceptOptions {
  /** Stops the loop (and ends a back-off early) when aborted. */
  signal?: AbortSignal;
  /**
   * Called with every failed `accept()`, skipped or not.
   *
   * @default {ignore them}
   */
  onError?: (error: AcceptError) => void;
  /**
   * Milliseconds to pause after `accept()` ran out of resources (file descriptors, memory).
   *
   * @default {1000}
   */
  backOff?: number;
}

/**
 * Accepts connections until the listener closes or `signal` aborts: the one accept loop every
 * Plexus server runs. Unlike `for await (const conn of listener)`, one client that resets its
 * connection before it was accepted (Deno throws `NotConnected` then) does not end or slow the
 * loop: the failure is reported and skipped at once. Running out of resources, or an error it
 * does not know, pauses the loop (`backOff`), so it cannot spin. See
 * {@linkcode AcceptFailureKind}.
 *
 * @typeParam C The connection type.
 * @param listener The listener to accept from; closing it ends the loop.
 * @param options A signal that stops the loop, an error callback and the back-off.
 * @returns The accepted connections, one by one.
 *
 * @example Serve every connection, surviving resets
 * ```ts
 * import { acceptConnections } from "@plexus/net/endpoints";
 * import { assertEquals } from "@std/assert";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const { port } = listener.addr;
 * const serving = (async () => {
 *   for await (const conn of acceptConnections(listener, { onError: console.warn })) {
 *     await conn.write(new TextEncoder().encode("hi"));
 *     conn.close();
 *   }
 * })();
 * const client = await Deno.connect({ hostname: "127.0.0.1", port });
 * assertEquals(await new Response(client.readable).text(), "hi");
 * listener.close();
 * await serving;
 * ```
 */
export async function* acceptConnections<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  options: AcceptOptions = {},
): AsyncGenerator<C, void, undefined> {
  for (let conn; (conn = await acceptNext(listener, options)) !== undefined;) yield conn;
}

/**
 * One step of {@linkcode acceptConnections}: the next accepted connection, with failures
 * reported, skipped or backed off from (see {@linkcode acceptFailed}); `undefined` once the
 * loop is over (the listener closed or `signal` aborted). The accept is raced with the
 * signal, since it cannot be cancelled short of closing the listener; a connection it still
 * brings is closed.
 */
async function acceptNext<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  options: AcceptOptions,
): Promise<C | undefined> {
  const { signal } = options;
  while (!signal?.aborted) {
    let conn: C;
    const cancel = signal ? linkCancellation(signal, undefined, "") : undefined;
    try {
      conn = await (cancel ? cancel.race(listener.accept()) : listener.accept());
    } catch (error) {
      const goOn = acceptFailed(error, options);
      if (goOn === true || (goOn !== false && await goOn)) continue;
      return undefined;
    } finally {
      cancel?.dispose();
    }
    if (signal?.aborted) {
      conn.close();
      return undefined;
    }
    return conn;
  }
  return undefined;
}

/**
 * What an accept loop does after `listener.accept()` failed with `error`, as
 * {@linkcode acceptConnections} does it: reports an {@linkcode AcceptError} through `onError`, backs
 * off when the kind calls for it, and says whether the loop goes on. A server's accept loop
 * awaits `listener.accept()` itself and calls this only on a failure, saving an async step on
 * every connection.
 *
 * @param error What `accept()` failed with.
 * @param options The loop's signal, error callback and back-off.
 * @returns Whether the loop goes on: `false` when it is over (the listener closed or `signal`
 * aborted); a promise of it after a back-off, a plain boolean otherwise (a skipped connection
 * goes on at once).
 */
export function acceptFailed(
  error: unknown,
  options: AcceptOptions,
): boolean | Promise<boolean> {
  const { signal, onError } = options;
  if (signal?.aborted) return false;
  const backOff = options.backOff ?? DEFAULT_ACCEPT_BACKOFF;
  const failure = AcceptError.from(error, backOff);
  try {
    onError?.(failure);
  } catch {
    // The loop must outlive a throwing callback.
  }
  if (failure.kind === "closed") return false;
  // A failed connection is skipped at once: the next accept() starts in this step, before
  // anything that reacts to onError runs.
  if (failure.kind === "connection") return !signal?.aborted;
  return delay(backOff, { signal }).then(() => !signal?.aborted, () => false);
}

function isPerConnection(error: unknown): boolean {
  return PER_CONNECTION_CLASSES.some((type) => error instanceof type);
}

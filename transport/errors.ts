/**
 * A transport failed: a connection could not be made, was reset, or was used after closing.
 * The underlying error, when there is one, is attached as `cause`.
 *
 * @example Tell a transport failure from other errors
 * ```ts
 * import { TransportError } from "@plexus/net/transport";
 *
 * const error = new TransportError("Read failed: connection reset", {
 *   cause: new Deno.errors.ConnectionReset("Connection reset by peer"),
 * });
 * console.assert(error instanceof TransportError);
 * console.assert(error.cause instanceof Deno.errors.ConnectionReset);
 * ```
 */
export class TransportError extends Error {
  /**
   * Creates a transport error.
   *
   * @param message What failed, naming the operation and the peer where known.
   * @param options `cause`: the underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransportError";
  }
}

/**
 * A write was refused because the write buffer would pass its cap (`maxWriteBuffer`), or a
 * connection was cut because the write buffers of all a server's connections passed their
 * budget (`maxTotalWriteBuffer`): the peer is not reading what we send, or the protocol
 * ignores `pauseWriting()`. The transport aborts with it and `write()` throws it.
 *
 * @example Tell a peer that does not read from other failures
 * ```ts
 * import { WriteBufferOverflowError } from "@plexus/net/transport";
 *
 * const error = new WriteBufferOverflowError(
 *   "Write buffer 67108900 bytes exceeds maxWriteBuffer 67108864; the peer is not reading",
 *   { size: 67108900, limit: 67108864 },
 * );
 * console.assert(error.size > error.limit);
 * ```
 */
export class WriteBufferOverflowError extends TransportError {
  /** The buffered bytes that passed the limit (the connection's, or the server's total). */
  readonly size: number;
  /** The limit passed, in bytes. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param message What passed which limit, naming both numbers.
   * @param options The size and the limit; `cause`, if any.
   */
  constructor(message: string, options: { size: number; limit: number } & ErrorOptions) {
    super(message, options);
    this.name = "WriteBufferOverflowError";
    this.size = options.size;
    this.limit = options.limit;
  }
}

/** The deadline a {@linkcode DeadlineError} names: the option of `deadlines` that ran out. */
export type DeadlineLimit = "firstFrameTimeout" | "frameTimeout" | "requestTimeout";

/**
 * A deadline ran out: a frame did not complete in time once its first byte arrived
 * (`frameTimeout`), no frame completed in time after connecting (`firstFrameTimeout`) — both
 * close the connection — or a request was not answered in time (`requestTimeout`: the
 * handler's signal aborts with it and the peer gets a failure response naming it).
 *
 * @example Tell a slow peer from other failures
 * ```ts
 * import { DeadlineError } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const error = new DeadlineError("frameTimeout", 10000);
 * assertEquals(error.message, "Frame incomplete 10000 ms after its first byte (frameTimeout)");
 * assertEquals(error.limit, "frameTimeout");
 * ```
 */
export class DeadlineError extends TransportError {
  /** The deadline that ran out. */
  readonly limit: DeadlineLimit;
  /** Its value, in milliseconds. */
  readonly timeout: number;

  /**
   * Creates the error; the message names the limit and its value.
   *
   * @param limit The deadline that ran out.
   * @param timeout Its value, in milliseconds.
   */
  constructor(limit: DeadlineLimit, timeout: number) {
    super(
      limit === "frameTimeout"
        ? `Frame incomplete ${timeout} ms after its first byte (frameTimeout)`
        : limit === "firstFrameTimeout"
        ? `No complete frame ${timeout} ms after connecting (firstFrameTimeout)`
        : `Request not answered ${timeout} ms after it arrived (requestTimeout)`,
    );
    this.name = "DeadlineError";
    this.limit = limit;
    this.timeout = timeout;
  }
}

/** Describes an unknown thrown value for an error message. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Wraps an unknown thrown value in a {@linkcode TransportError} naming the failed operation. */
export function transportError(operation: string, cause: unknown): TransportError {
  return cause instanceof TransportError
    ? cause
    : new TransportError(`${operation}: ${describeError(cause)}`, { cause });
}

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

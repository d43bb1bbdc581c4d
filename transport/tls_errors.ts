import { TransportError } from "./errors.ts";

/**
 * A TLS handshake did not finish within `handshakeTimeout`: a peer that connects and sends
 * nothing (or too little), on either side. The connection is closed — on a server, its socket
 * is released — and a `Server` reports the error through `onError`.
 *
 * @example Tell a silent TLS peer from other failures
 * ```ts
 * import { TlsHandshakeTimeoutError, TransportError } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * const error = new TlsHandshakeTimeoutError(3000, { peer: "127.0.0.1:51000" });
 * assertEquals(
 *   error.message,
 *   "TLS handshake with 127.0.0.1:51000 timed out after 3000 ms (handshakeTimeout)",
 * );
 * assertEquals(error.timeout, 3000);
 * console.assert(error instanceof TransportError);
 * ```
 */
export class TlsHandshakeTimeoutError extends TransportError {
  /** The handshake timeout that ran out, in milliseconds. */
  readonly timeout: number;
  /** The peer's address, when known (`host:port`). */
  readonly peer: string | undefined;

  /**
   * Creates the error; the message names the peer (when given) and the timeout.
   *
   * @param timeout The `handshakeTimeout` that ran out, in milliseconds.
   * @param options `peer`: the peer's address; `cause`, if any.
   */
  constructor(timeout: number, options: { peer?: string } & ErrorOptions = {}) {
    const peer = options.peer === undefined ? "" : ` with ${options.peer}`;
    super(`TLS handshake${peer} timed out after ${timeout} ms (handshakeTimeout)`, options);
    this.name = "TlsHandshakeTimeoutError";
    this.timeout = timeout;
    this.peer = options.peer;
  }
}

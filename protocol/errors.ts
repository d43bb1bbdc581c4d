/**
 * The peer broke the protocol: a message could not be decoded, or arrived where it may not.
 * The connection is closed; the underlying error, when there is one, is the `cause`.
 *
 * @example Reject a malformed message
 * ```ts
 * import { ProtocolError } from "@plexus/net/protocol";
 * import { assertThrows } from "@std/assert";
 *
 * function parsePort(text: string): number {
 *   const port = Number(text);
 *   if (!Number.isInteger(port) || port < 0 || port > 65535) {
 *     throw new ProtocolError(`Cannot parse port: ${JSON.stringify(text)} is not 0..65535`);
 *   }
 *   return port;
 * }
 * assertThrows(() => parsePort("99999"), ProtocolError, "is not 0..65535");
 * ```
 */
export class ProtocolError extends Error {
  /**
   * Creates a protocol error.
   *
   * @param message What the peer did wrong, naming the offending value.
   * @param options `cause`: the underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

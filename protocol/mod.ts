/**
 * Protocols: the callback objects transports drive, asyncio- and gruvi-style.
 *
 * The interfaces (`Protocol`, `BufferedProtocol`, `DatagramProtocol`, `BaseProtocol`) are the
 * transport layer's contract, re-exported here. {@linkcode ProtocolAdapter} and
 * {@linkcode DatagramProtocolAdapter} are base classes with no-op defaults. (`MessageProtocol`,
 * which runs on a framing `Decoder`, lives in `@plexus/net/framing`.)
 *
 * Call order of a stream protocol:
 *
 * ```
 * connectionMade -> [dataReceived*] -> [eofReceived] -> connectionLost
 * ```
 *
 * @example Subclass the adapter
 * ```ts
 * import { ProtocolAdapter } from "@plexus/net/protocol";
 *
 * class Printer extends ProtocolAdapter {
 *   override dataReceived(data: Uint8Array): void {
 *     console.log(new TextDecoder().decode(data));
 *   }
 * }
 * const printer = new Printer();
 * ```
 *
 * @module
 */

export { DatagramProtocolAdapter, ProtocolAdapter } from "./adapters.ts";
export { ProtocolError } from "./errors.ts";

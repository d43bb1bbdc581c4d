import type { DatagramProtocol, DatagramTransport, Protocol, Transport } from "../transport/mod.ts";

/**
 * A base class for stream protocols with no-op defaults for every callback (asyncio's
 * `Protocol`, gruvi's `Protocol`). It keeps the transport in `transport` from
 * `connectionMade()` on; subclasses override what they need and call `super` in
 * `connectionMade()` when they override it.
 *
 * Call order: `connectionMade -> [dataReceived*] -> [eofReceived] -> connectionLost`, with
 * `pauseWriting`/`resumeWriting` pairs in between.
 *
 * @example An echo protocol
 * ```ts
 * import { ProtocolAdapter } from "@plexus/net/protocol";
 * import { createMemoryTransportPair } from "@plexus/net/transport";
 * import { assertEquals } from "@std/assert";
 *
 * class Echo extends ProtocolAdapter {
 *   override dataReceived(data: Uint8Array): void {
 *     this.transport!.write(data);
 *   }
 * }
 * class Collect extends ProtocolAdapter {
 *   text = "";
 *   override dataReceived(data: Uint8Array): void {
 *     this.text += new TextDecoder().decode(data);
 *   }
 * }
 * const collect = new Collect();
 * const [, client] = createMemoryTransportPair(new Echo(), collect);
 * client.write(new TextEncoder().encode("hi"));
 * client.writeEof();
 * await client.closed;
 * assertEquals(collect.text, "hi");
 * ```
 */
export class ProtocolAdapter implements Protocol {
  /** The transport, from `connectionMade()` on. */
  transport: Transport | undefined;

  /** Keeps the transport. */
  connectionMade(transport: Transport): void {
    this.transport = transport;
  }

  /** Ignores the data. */
  dataReceived(_data: Uint8Array): void {}

  /** Returns nothing, so the transport closes. */
  eofReceived(): boolean | void {}

  /** Does nothing. */
  pauseWriting(): void {}

  /** Does nothing. */
  resumeWriting(): void {}

  /** Does nothing. */
  connectionLost(_error: Error | undefined): void {}
}

/**
 * A base class for datagram protocols with no-op defaults (asyncio's `DatagramProtocol`). It
 * keeps the transport in `transport` from `connectionMade()` on.
 *
 * @example A datagram echo
 * ```ts
 * import { DatagramProtocolAdapter } from "@plexus/net/protocol";
 *
 * class Echo extends DatagramProtocolAdapter {
 *   override datagramReceived(data: Uint8Array, addr: Deno.NetAddr): void {
 *     this.transport!.sendto(data, addr);
 *   }
 * }
 * const echo = new Echo();
 * ```
 */
export class DatagramProtocolAdapter implements DatagramProtocol {
  /** The transport, from `connectionMade()` on. */
  transport: DatagramTransport | undefined;

  /** Keeps the transport. */
  connectionMade(transport: DatagramTransport): void {
    this.transport = transport;
  }

  /** Ignores the datagram. */
  datagramReceived(_data: Uint8Array, _addr: Deno.NetAddr): void {}

  /** Ignores the error. */
  errorReceived(_error: Error): void {}

  /** Does nothing. */
  pauseWriting(): void {}

  /** Does nothing. */
  resumeWriting(): void {}

  /** Does nothing. */
  connectionLost(_error: Error | undefined): void {}
}

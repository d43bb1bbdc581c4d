/** Shared pieces of the packet tests: hex, the wire vectors, a raw peer, a PRNG. */

export { bytes, hex, prng, text, toHex } from "../_shared.ts";
import { bsuintVectors, bytes, hex, toHex } from "../_shared.ts";

import { encodeFrame, ReceiveBuffer } from "@plexus/net/framing";
import {
  Packet,
  PacketConnection,
  type PacketConnectionOptions,
  PacketFramer,
} from "@plexus/net/packet";
import {
  createMemoryTransportPair,
  type Protocol,
  type StreamTransport,
  type Transport,
} from "@plexus/net/transport";

/** Encodes one packet. */
export function encode(packet: Packet): Uint8Array {
  return encodeFrame(new PacketFramer(), packet);
}

const range200 = Uint8Array.from({ length: 200 }, (_, i) => i);

/**
 * The cs.packetstream vectors (shared/vectors/packetstream.txt, produced by the Python
 * implementation), each with the packet it encodes.
 */
export const VECTORS: { name: string; hex: string; packet: Packet }[] = [
  { name: "EOF", hex: "03 00 02 00", packet: Packet.EOF },
  { name: "ERQ", hex: "03 01 02 00", packet: Packet.ERQ },
  {
    name: "request ch0 tag2 flags0 user_rq_type0 payload empty",
    hex: "03 02 02 01",
    packet: Packet.request(2, 0),
  },
  {
    name: "request ch0 tag2 flags0x55 user_rq_type1 payload 0203",
    hex: "06 02 82 56 02 02 03",
    packet: Packet.request(2, 1, { flags: 0x55, payload: hex("02 03") }),
  },
  {
    name: "request ch5 tag3 flags0 wire_rq_type1 payload abc",
    hex: "07 03 03 05 01 61 62 63",
    packet: Packet.request(3, 0, { channel: 5, payload: bytes("abc") }),
  },
  {
    name: "request ch300 tag300 flags1 wire_rq_type200 empty",
    hex: "07 82 2c 07 82 2c 81 48",
    packet: Packet.request(300, 199, { channel: 300, flags: 1 }),
  },
  {
    name: "request ch0 tag2 wire_rq_type1 payload bytes 0..199",
    hex: `81 4b 02 02 01 ${toHex(range200)}`,
    packet: Packet.request(2, 0, { payload: range200 }),
  },
  {
    name: "ok response ch0 tag2 user_flags0x11 payload 0302",
    hex: "05 02 81 0c 03 02",
    packet: Packet.response(2, true, { flags: 0x11, payload: hex("03 02") }),
  },
  {
    name: "ok response ch0 tag2 user_flags0 payload empty",
    hex: "02 02 04",
    packet: Packet.response(2, true),
  },
  {
    name: "ok response ch7 tag4 user_flags0 payload x",
    hex: "04 04 05 07 78",
    packet: Packet.response(4, true, { channel: 7, payload: bytes("x") }),
  },
  {
    name: "fail response ch0 tag3 no request handler",
    hex: "14 03 00 6e 6f 20 72 65 71 75 65 73 74 20 68 61 6e 64 6c 65 72",
    packet: Packet.response(3, false, { payload: bytes("no request handler") }),
  },
  {
    name: "fail response ch0 tag3 exception during handler",
    hex: "1a 03 00 65 78 63 65 70 74 69 6f 6e 20 64 75 72 69 6e 67 20 68 61 6e 64 6c 65 72",
    packet: Packet.response(3, false, { payload: bytes("exception during handler") }),
  },
];

/** The BSUInt vectors, read from the vector file. */
export const BSUINT_VECTORS: [number, string][] = bsuintVectors();

/**
 * A hand-driven peer: it decodes every packet it receives and writes whatever bytes the test
 * gives it, so tests see exactly what a connection puts on the wire (as a cs.packetstream peer
 * would).
 */
export class RawPeer implements Protocol {
  transport!: Transport;
  readonly packets: Packet[] = [];
  readonly chunks: Uint8Array[] = [];
  eof = false;
  lost = false;
  readonly #buffer = new ReceiveBuffer();
  readonly #framer = new PacketFramer();
  #waiters: { check: () => boolean; resolve: () => void }[] = [];

  connectionMade(transport: Transport): void {
    this.transport = transport;
  }

  dataReceived(data: Uint8Array): void {
    this.chunks.push(data);
    this.#buffer.append(data);
    for (let p = this.#framer.decode(this.#buffer); p; p = this.#framer.decode(this.#buffer)) {
      this.packets.push(p);
    }
    this.#check();
  }

  eofReceived(): boolean {
    this.eof = true;
    this.#check();
    return true;
  }

  connectionLost(): void {
    this.lost = true;
    this.#check();
  }

  /** Sends packets (or raw bytes) to the connection under test. */
  send(...items: (Packet | Uint8Array)[]): void {
    for (const item of items) this.transport.write(item instanceof Packet ? encode(item) : item);
  }

  /** Resolves once `check()` holds. */
  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }

  /** Resolves once `n` packets have arrived in all. */
  untilPackets(n: number): Promise<Packet[]> {
    return this.until(() => this.packets.length >= n).then(() => this.packets);
  }

  /** The response to `tag` on `channel`, once it has arrived. */
  async response(tag: number, channel = 0): Promise<Packet> {
    const find = () =>
      this.packets.find((p) => !p.isRequest && p.tag === tag && p.channel === channel);
    await this.until(() => find() !== undefined);
    return find()!;
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }
}

/** A connection and a raw peer over the in-memory transport pair. */
export function withRawPeer(
  options?: PacketConnectionOptions,
): { connection: PacketConnection; peer: RawPeer; transports: [StreamTransport, StreamTransport] } {
  const connection = new PacketConnection(options);
  const peer = new RawPeer();
  const transports = createMemoryTransportPair(connection, peer);
  return { connection, peer, transports };
}

/** Two connections over the in-memory transport pair: [server, client]. */
export function connectedPair(
  server: PacketConnectionOptions = {},
  client: PacketConnectionOptions = {},
): [PacketConnection, PacketConnection] {
  const a = new PacketConnection(server);
  const b = new PacketConnection(client);
  createMemoryTransportPair(a, b);
  return [a, b];
}

/** A promise with its resolver, for handlers the test releases by hand. */
export function gate<T = void>(): PromiseWithResolvers<T> {
  return Promise.withResolvers<T>();
}

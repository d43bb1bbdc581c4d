import { assertEquals } from "@std/assert";
import { EXTENSION_RQ_TYPE, Packet, PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { bytes, RawPeer } from "./_helpers.ts";

/**
 * A Plexus peer at the end of a slow link: it takes one read (at most 4 KiB, the channel's
 * capacity) per timer tick, accepts the offer, and answers every ping and request it reads.
 */
class SlowPeer extends RawPeer {
  #seen = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  override dataReceived(data: Uint8Array): void {
    super.dataReceived(data);
    for (; this.#seen < this.packets.length; this.#seen++) {
      const p = this.packets[this.#seen];
      if (!p.isRequest) continue;
      if (p.userRqType === EXTENSION_RQ_TYPE && p.flags === 0) {
        this.send(Packet.response(p.tag, true, { payload: bytes("plexus-ext/1!") }));
      } else if (p.userRqType === EXTENSION_RQ_TYPE) {
        this.send(Packet.response(p.tag, true));
      } else {
        this.send(Packet.response(p.tag, true, { payload: bytes(`${p.payload.byteLength}`) }));
      }
    }
    this.transport.pauseReading();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.transport.resumeReading();
    }, 1);
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}

Deno.test("keep-alive: a peer still taking in our large request is not declared dead", async () => {
  // The request takes at least 128 of the peer's reads, one per timer tick: many keep-alive
  // periods in which the peer says nothing, and our ping waits behind the request's bytes.
  // The peer is alive, reading all the while: our bytes keep going out.
  const connection = new PacketConnection({ extensions: true, keepAlive: 5 });
  const peer = new SlowPeer();
  const transports = createMemoryTransportPair(connection, peer, { capacity: 4096 });
  assertEquals(await connection.extensions, true);
  const answer = await connection.call(0, new Uint8Array(512 * 1024)).then(
    (payload) => new TextDecoder().decode(payload),
    (error) => error,
  );
  assertEquals(answer, `${512 * 1024}`);
  peer.stop();
  connection.abort();
  transports[1].close();
  await connection.closed;
});

Deno.test("keep-alive: a peer that stops reading is declared dead with our request half sent", async () => {
  // The same large request, but the peer reads nothing after the offer: our bytes stop going
  // out, and the ping waiting behind them does not keep the connection alive.
  const connection = new PacketConnection({ extensions: true, keepAlive: 5 });
  const peer = new SlowPeer();
  const transports = createMemoryTransportPair(connection, peer, { capacity: 4096 });
  assertEquals(await connection.extensions, true);
  peer.stop();
  peer.transport.pauseReading();
  const error = await connection.call(0, new Uint8Array(512 * 1024)).then(
    () => undefined,
    (e) => e,
  );
  assertEquals(
    (error as Error).message,
    "Request rq_type 0 (channel 0, tag 3) failed: Connection lost: no packet from the peer in 10 ms (keep-alive)",
  );
  transports[1].close();
  await connection.closed;
});

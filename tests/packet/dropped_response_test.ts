/**
 * A response the transport drops (it was closed under the connection, by a server's
 * `closeClients()` or an idle cut) is neither traced as sent nor counted as served.
 */
import { assertEquals } from "@std/assert";
import { Packet, PacketConnection } from "@plexus/net/packet";
import { withRawPeer } from "./_helpers.ts";
import { within } from "../_shared.ts";
import { createMemoryTransportPair, subscribe } from "@plexus/net/transport";

Deno.test("a response dropped by a closing transport is neither traced as sent nor counted as served", async () => {
  const running = Promise.withResolvers<void>();
  const answer = Promise.withResolvers<string>();
  const server = new PacketConnection({
    name: "server",
    requestHandler: () => {
      running.resolve();
      return answer.promise;
    },
  });
  const client = new PacketConnection({ name: "client" });
  createMemoryTransportPair(server, client);
  const reply = client.call(0).catch((error) => error);
  await running.promise;
  const sent: string[] = [];
  using _ = subscribe({
    frame: (e) => {
      if (e.direction === "send") sent.push(`${e.name} ${e.bytes?.byteLength}`);
    },
    packet: (e) => {
      if (e.direction === "send") sent.push(`${e.name} ${e.text}`);
    },
  });
  server.transport!.close(); // the transport is closing under the connection
  answer.resolve("late"); // the handler answers now: the transport drops it
  await Promise.all([server.closed, client.closed]);
  await reply;
  assertEquals(server.transport!.stats!().bytesSent, 0);
  assertEquals(sent, []);
  assertEquals(server.stats().requestsServed, 0);
});

// A response the connection has written (and counted as served) was lost when the transport's
// owner ended it within packetGrace (close(): Server.closeClients(); writeEof()): the writer
// held it uncommitted, and the ending transport dropped uncommitted bytes (an encoder may be
// mid-frame). The transport now asks the protocol to commit what it holds first.
for (const end of ["close", "writeEof"] as const) {
  for (const packetGrace of [0, 50]) {
    Deno.test(`the owner's ${end}() keeps a written response (packetGrace ${packetGrace})`, async () => {
      const written = Promise.withResolvers<void>();
      const { connection, peer, transports } = withRawPeer({
        packetGrace,
        requestHandler: () => "answer",
        trace: (event) => {
          if (event.direction === "send" && !event.packet.isRequest) written.resolve();
        },
      });
      peer.send(Packet.request(2, 0));
      await within(written.promise, 1000, "response written");
      assertEquals(connection.stats().requestsServed, 1);
      transports[0][end]();
      await within(peer.until(() => peer.eof || peer.lost), 2000, "peer end");
      const answer = peer.packets.find((p) => !p.isRequest && p.tag === 2);
      transports[0].abort();
      await within(connection.closed, 2000, "closed");
      assertEquals(answer !== undefined, true, "the peer never got the answer counted as served");
    });
  }
}

for (const packetGrace of [0, 50]) {
  Deno.test(`close() after a writeEof() under the connection ends it (packetGrace ${packetGrace})`, async () => {
    // ERQ and EOF could not be written: close() rejected with the write error, its timer
    // cleared, the transport left open and `closed` pending.
    const { connection, peer, transports } = withRawPeer({
      packetGrace,
      requestHandler: () => "a",
    });
    peer.send(Packet.request(2, 0));
    await within(peer.response(2), 1000, "answer");
    transports[0].writeEof(); // the owner half-closes; the peer keeps its side open
    await within(peer.until(() => peer.eof), 1000, "peer eof");
    await within(connection.close(), 2000, "close()");
    await within(connection.closed, 2000, "closed");
    assertEquals(transports[0].isClosing(), true);
    transports[1].abort();
    await transports[0].closed;
  });

  Deno.test(`an answer whose trace closes the transport still reaches the peer (packetGrace ${packetGrace})`, async () => {
    // Traced as sent and counted as served while whole but not yet committed: the write-ending
    // flush did not count it as held, and the close dropped it.
    let closeOnce = true;
    const { connection, peer, transports } = withRawPeer({
      packetGrace,
      requestHandler: () => "a",
      trace: (e) => {
        if (e.direction === "send" && !e.packet.isRequest && closeOnce) {
          closeOnce = false;
          transports[0].close(); // the owner closes on seeing the answer go out
        }
      },
    });
    peer.send(Packet.request(2, 0));
    await within(peer.until(() => peer.eof || peer.lost), 2000, "peer eof");
    transports[1].abort();
    await within(connection.closed, 2000, "closed");
    const got = peer.packets.filter((p) => !p.isRequest && p.tag === 2).length;
    assertEquals([connection.stats().requestsServed, got], [1, 1]);
  });
}

import { assertEquals, assertThrows } from "@std/assert";
import { assert } from "../_assert.ts";
import { createDatagramEndpoint } from "@plexus/net/endpoints";
import type { DatagramProtocol, DatagramTransport } from "@plexus/net/transport";
import { TransportError } from "@plexus/net/transport";
import { bytes } from "../_recorder.ts";

/** Records datagrams and callbacks; waits on conditions, never on time. */
class Datagrams implements DatagramProtocol {
  readonly received: { text: string; addr: Deno.NetAddr }[] = [];
  readonly events: string[] = [];
  transport!: DatagramTransport;
  #waiters: { check: () => boolean; resolve: () => void }[] = [];
  readonly #echo: boolean;

  constructor(echo = false) {
    this.#echo = echo;
  }

  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }

  connectionMade(transport: DatagramTransport): void {
    this.transport = transport;
    this.#record("connectionMade");
  }

  datagramReceived(data: Uint8Array, addr: Deno.NetAddr): void {
    this.received.push({ text: new TextDecoder().decode(data), addr });
    if (this.#echo) this.transport.sendto(data, addr);
    this.#record("datagram");
  }

  errorReceived(): void {
    this.#record("error");
  }

  pauseWriting(): void {
    this.#record("pauseWriting");
  }

  resumeWriting(): void {
    this.#record("resumeWriting");
  }

  connectionLost(): void {
    this.#record("connectionLost");
  }

  #record(event: string): void {
    this.events.push(event);
    this.#waiters = this.#waiters.filter((w) => !(w.check() && (w.resolve(), true)));
  }
}

Deno.test("UDP echo through createDatagramEndpoint", async () => {
  const server = await createDatagramEndpoint(() => new Datagrams(true), {
    localAddress: "127.0.0.1:0",
  });
  const serverAddr = server.transport.getExtraInfo("sockname") as Deno.NetAddr;
  const client = await createDatagramEndpoint(() => new Datagrams(), {
    remoteAddress: serverAddr,
  });
  for (const word of ["one", "two", "three"]) client.transport.sendto(bytes(word));
  await client.protocol.until(() => client.protocol.received.length === 3);
  assertEquals(client.protocol.received.map((d) => d.text).sort(), ["one", "three", "two"]);
  assertEquals(client.protocol.received[0].addr.port, serverAddr.port);
  client.transport.close();
  server.transport.close();
  await Promise.all([client.transport.closed, server.transport.closed]);
  assertEquals(client.protocol.events.at(-1), "connectionLost");
  assertEquals(server.protocol.events.filter((e) => e === "connectionLost").length, 1);
});

Deno.test("UDP with a remote address drops datagrams from anyone else", async () => {
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const { transport, protocol } = await createDatagramEndpoint(() => new Datagrams(), {
    localAddress: "127.0.0.1:0",
    remoteAddress: peer.addr as Deno.NetAddr,
  });
  const local = transport.getExtraInfo("sockname") as Deno.NetAddr;
  // Loopback delivers in send order: if the first datagram seen is the peer's, the stranger's
  // (sent before it) was dropped.
  await stranger.send(bytes("from stranger"), local);
  await peer.send(bytes("from peer"), local);
  await protocol.until(() => protocol.received.length >= 1);
  assertEquals(protocol.received[0].text, "from peer");
  assertThrows(
    () => transport.sendto(bytes("x"), stranger.addr as Deno.NetAddr),
    TypeError,
    "bound to",
  );
  peer.close();
  stranger.close();
  transport.close();
  await transport.closed;
});

Deno.test("UDP sendto needs an address when there is no default", async () => {
  const { transport } = await createDatagramEndpoint(() => new Datagrams(), {
    localAddress: "127.0.0.1:0",
  });
  assertThrows(() => transport.sendto(bytes("x")), TypeError, "no address given");
  transport.close();
  assertThrows(
    () => transport.sendto(bytes("x"), { transport: "udp", hostname: "127.0.0.1", port: 9 }),
    TransportError,
    "closing",
  );
  await transport.closed;
});

Deno.test("UDP write buffer: pauseWriting over high, close sends what is queued", async () => {
  const sink = await createDatagramEndpoint(() => new Datagrams(), { localAddress: "127.0.0.1:0" });
  const sinkAddr = sink.transport.getExtraInfo("sockname") as Deno.NetAddr;
  const sender = await createDatagramEndpoint(() => new Datagrams(), {
    remoteAddress: sinkAddr,
    writeBufferLimits: { high: 1000, low: 100 },
  });
  for (let i = 0; i < 20; i++) sender.transport.sendto(new Uint8Array(100).fill(i));
  assertEquals(sender.transport.getWriteBufferSize(), 2000);
  assertEquals(sender.protocol.events, ["connectionMade", "pauseWriting"]);
  sender.transport.close();
  await sender.transport.closed;
  assertEquals(sender.protocol.events, [
    "connectionMade",
    "pauseWriting",
    "resumeWriting",
    "connectionLost",
  ]);
  await sink.protocol.until(() => sink.protocol.received.length === 20);
  sink.transport.close();
  await sink.transport.closed;
});

Deno.test("UDP abort drops queued datagrams; pauseReading stops receiving", async () => {
  const sink = await createDatagramEndpoint(() => new Datagrams(), { localAddress: "127.0.0.1:0" });
  sink.transport.pauseReading();
  assert(!sink.transport.isReading());
  const sinkAddr = sink.transport.getExtraInfo("sockname") as Deno.NetAddr;
  const sender = await createDatagramEndpoint(() => new Datagrams(), { remoteAddress: sinkAddr });
  for (let i = 0; i < 5; i++) sender.transport.sendto(bytes(`queued ${i}`));
  sender.transport.abort();
  assertEquals(sender.transport.getWriteBufferSize(), 0);
  await sender.transport.closed;
  const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await probe.send(bytes("after resume"), sinkAddr);
  assertEquals(sink.protocol.received.length, 0);
  sink.transport.resumeReading();
  await sink.protocol.until(() => sink.protocol.received.length === 1);
  assertEquals(sink.protocol.received[0].text, "after resume", "nothing queued was sent");
  probe.close();
  sink.transport.close();
  await sink.transport.closed;
});

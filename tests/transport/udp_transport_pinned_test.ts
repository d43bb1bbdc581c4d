/**
 * UdpTransport edges no other test pinned, over a scripted socket: the remote address compared
 * case-blind, an interrupted receive ending the transport, a quiet end after close(), the send
 * in flight awaited before `connectionLost()`, and the name from `extra` winning.
 */

import { assertEquals } from "@std/assert";
import { type DatagramProtocol, UdpTransport } from "@plexus/net/transport";
import { assert } from "../_assert.ts";
import { bytes } from "../_shared.ts";

/**
 * A datagram socket driven by the test: receives come from `incoming` (then wait until close,
 * which rejects them with `closeError`); each send waits until the test settles it.
 */
class ScriptedSocket {
  readonly addr: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: 9 };
  readonly incoming: (() => Promise<[Uint8Array, Deno.Addr]>)[] = [];
  readonly sends: PromiseWithResolvers<number>[] = [];
  closeError: Error = new Deno.errors.BadResource("closed");
  readonly #closed = Promise.withResolvers<[Uint8Array, Deno.Addr]>();

  constructor() {
    this.#closed.promise.catch(() => {}); // no receive may be waiting when it closes
  }

  receive(): Promise<[Uint8Array, Deno.Addr]> {
    return this.incoming.shift()?.() ?? this.#closed.promise;
  }

  send(): Promise<number> {
    const settle = Promise.withResolvers<number>();
    this.sends.push(settle);
    return settle.promise;
  }

  close(): void {
    this.#closed.reject(this.closeError);
  }
}

/** Records callbacks by name; `next(name)` resolves at the next one. */
class Events implements DatagramProtocol {
  readonly events: string[] = [];
  readonly texts: string[] = [];
  #waiters: { name: string; resolve: () => void }[] = [];

  next(name: string): Promise<void> {
    return new Promise((resolve) => this.#waiters.push({ name, resolve }));
  }

  datagramReceived(data: Uint8Array): void {
    this.texts.push(new TextDecoder().decode(data));
    this.#record("datagram");
  }

  errorReceived(): void {
    this.#record("error");
  }

  connectionLost(): void {
    this.#record("connectionLost");
  }

  #record(name: string): void {
    this.events.push(name);
    this.#waiters = this.#waiters.filter((w) => !(w.name === name && (w.resolve(), true)));
  }
}

function open(socket: ScriptedSocket, protocol: DatagramProtocol, remote?: Deno.NetAddr) {
  return new UdpTransport(socket as unknown as Deno.DatagramConn, protocol, {
    remoteAddress: remote,
  });
}

Deno.test("UDP: the remote address matches whatever the case of its IPv6 hex digits", async () => {
  const socket = new ScriptedSocket();
  const from = (hostname: string): [Uint8Array, Deno.Addr] => [
    bytes(hostname),
    { transport: "udp", hostname, port: 53 },
  ];
  socket.incoming.push(
    () => Promise.resolve(from("fe80::1")),
    () => Promise.resolve(from("FE80::1")),
  );
  const protocol = new Events();
  const both = protocol.next("datagram").then(() => protocol.next("datagram"));
  const udp = open(socket, protocol, { transport: "udp", hostname: "FE80::1", port: 53 });
  await both;
  assertEquals(protocol.texts, ["fe80::1", "FE80::1"]);
  udp.sendto(bytes("to lower case"), { transport: "udp", hostname: "fe80::1", port: 53 });
  assertEquals(socket.sends.length, 1);
  socket.sends[0].resolve(1);
  udp.close();
  await udp.closed;
});

Deno.test("UDP: an interrupted receive ends the transport as a lost socket does", async () => {
  const socket = new ScriptedSocket();
  socket.incoming.push(() => Promise.reject(new Deno.errors.Interrupted("interrupted")));
  const protocol = new Events();
  const reported = protocol.next("error");
  const udp = open(socket, protocol);
  const outcome = await Promise.race([udp.closed, reported.then(() => "reported")]);
  udp.abort(); // ends it if it went on receiving
  await udp.closed;
  assert(outcome instanceof Error, `not ended: ${String(outcome)}`);
  assertEquals(outcome.message.startsWith("Receive failed"), true, outcome.message);
  assertEquals(protocol.events, ["connectionLost"]);
});

Deno.test("UDP: a receive that fails because close() closed the socket is not reported", async () => {
  const socket = new ScriptedSocket();
  socket.closeError = new Error("the socket was closed"); // not one Deno names as gone
  const protocol = new Events();
  const udp = open(socket, protocol);
  udp.close();
  await udp.closed;
  assertEquals(protocol.events, ["connectionLost"]);
});

Deno.test("UDP: abort() waits for the send in flight before connectionLost()", async () => {
  const socket = new ScriptedSocket();
  const protocol = new Events();
  const udp = open(socket, protocol);
  udp.sendto(bytes("in flight"), { transport: "udp", hostname: "127.0.0.1", port: 1 });
  assertEquals(socket.sends.length, 1);
  udp.abort();
  // A turn later every microtask has run: connectionLost must still wait for the send.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(protocol.events, []);
  socket.sends[0].resolve(9);
  await udp.closed;
  assertEquals(protocol.events, ["connectionLost"]);
});

Deno.test("UDP: a name in extra wins over the protocol's connectionName", async () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const udp = new UdpTransport(conn, { connectionName: "dns", datagramReceived() {} }, {
    extra: { name: "resolver" },
  });
  assertEquals(udp.getExtraInfo("name"), "resolver");
  udp.close();
  await udp.closed;
});

Deno.test("UDP: resumeReading() after close() does not start reading again", async () => {
  const socket = new ScriptedSocket();
  const udp = open(socket, new Events());
  udp.close();
  udp.resumeReading();
  assertEquals(udp.isReading(), false);
  await udp.closed;
});

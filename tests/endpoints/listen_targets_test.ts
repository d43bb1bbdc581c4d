import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { lookup } from "node:dns/promises";
import { createConnection, Server } from "@plexus/net/endpoints";
import { TransportError } from "@plexus/net/transport";
import { ProtocolAdapter } from "@plexus/net/protocol";
import { listenTargets, openOnOnePort } from "../../endpoints/_listen_targets.ts";
import type { ParsedAddress } from "../../endpoints/address.ts";

Deno.test("listening on a host name listens on every address it resolves to, on one port", async () => {
  const expected = (await lookup("localhost", { all: true })).map((a) => a.address);
  await using server = new Server(() => new ProtocolAdapter());
  const addresses = (await server.listen("localhost:0")) as Deno.NetAddr[];
  assertEquals(addresses.map((a) => a.hostname).sort(), [...new Set(expected)].sort());
  assertEquals(new Set(addresses.map((a) => a.port)).size, 1);
  for (const address of addresses) {
    const { transport } = await createConnection(() => new ProtocolAdapter(), address);
    transport.close();
    await transport.closed;
  }
});

Deno.test("a name that resolves to 127.0.0.1 and ::1 gives two targets with the given port", async () => {
  const targets = await listenTargets(
    { transport: "tcp", hostname: "dual.test", port: 0 },
    () => Promise.resolve(["127.0.0.1", "::1", "127.0.0.1"]),
  );
  assertEquals(targets, [
    { transport: "tcp", hostname: "127.0.0.1", port: 0 },
    { transport: "tcp", hostname: "::1", port: 0 },
  ]);
  // IP literals and Unix paths are not looked up.
  const never = () => Promise.reject(new Error("looked up"));
  assertEquals(
    (await listenTargets({ transport: "tcp", hostname: "::1", port: 5 }, never)).length,
    1,
  );
  assertEquals((await listenTargets({ transport: "unix", path: "/tmp/x" }, never)).length, 1);
});

Deno.test("the listeners of one name share the port the first one picked", () => {
  const listeners = openOnOnePort(
    [
      { transport: "tcp", hostname: "127.0.0.1", port: 0 },
      { transport: "tcp", hostname: "::1", port: 0 },
    ],
    (target) => Deno.listen(target as Deno.TcpListenOptions),
  );
  try {
    const [v4, v6] = listeners.map((l) => l.addr as Deno.NetAddr);
    assertEquals([v4.hostname, v6.hostname], ["127.0.0.1", "::1"]);
    assertEquals(v6.port, v4.port);
  } finally {
    for (const listener of listeners) listener.close();
  }
});

Deno.test("a name that does not resolve fails the listen with the name in the message", async () => {
  await assertRejects(
    () =>
      listenTargets(
        { transport: "tcp", hostname: "nowhere.invalid", port: 0 },
        () => Promise.reject(new Error("ENOTFOUND")),
      ),
    TransportError,
    "Cannot listen on nowhere.invalid:0: cannot resolve nowhere.invalid: ENOTFOUND",
  );
});

Deno.test("an address the host does not have is skipped while another one opens (IPv6 off)", () => {
  // 192.0.2.1 (TEST-NET-1) is on no interface: listening there fails with EADDRNOTAVAIL, as
  // ::1 does where /etc/hosts names it for localhost but IPv6 is disabled.
  const open = (target: ParsedAddress) => Deno.listen(target as Deno.TcpListenOptions);
  const listeners = openOnOnePort(
    [
      { transport: "tcp", hostname: "127.0.0.1", port: 0 },
      { transport: "tcp", hostname: "192.0.2.1", port: 0 },
    ],
    open,
  );
  try {
    assertEquals(listeners.map((l) => (l.addr as Deno.NetAddr).hostname), ["127.0.0.1"]);
  } finally {
    for (const listener of listeners) listener.close();
  }
  // With no address left, the error is thrown.
  assertThrows(
    () => openOnOnePort([{ transport: "tcp", hostname: "192.0.2.1", port: 0 }], open),
    Deno.errors.AddrNotAvailable,
  );
});

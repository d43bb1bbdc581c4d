/**
 * keepAlive()/noDelay() wrappers run after TLS: the TCP socket underneath still gets the option
 * (they did nothing on TLS and localAddress connections), or the wrapper says why it cannot.
 */
import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import {
  createConnection,
  createServer,
  keepAlive,
  noDelay,
  tls as tlsWrapper,
  type Wrapper,
  WrapperChain,
} from "@plexus/net/endpoints";
import { CountingChannel } from "../_counting_channel.ts";
import { ProtocolAdapter } from "@plexus/net/protocol";
import type { Transport } from "@plexus/net/transport";
import { tls } from "../_net.ts";

/**
 * Whether the kernel's keep-alive timer runs on the TCP socket 127.0.0.1:`localPort` ->
 * 127.0.0.1:`remotePort` (`/proc/net/tcp`'s `tr` column is 2). Data in flight shows the
 * retransmit timer instead, so the check waits (bounded) until the socket has nothing unacked.
 */
/** The keep-alive checks read Linux's socket table. */
const LINUX = Deno.build.os === "linux";

/**
 * The kernel's TCP socket table. Read through `cat`: Deno lets only --allow-all read /proc,
 * and the test task grants --allow-run.
 */
async function procNetTcp(): Promise<string> {
  const { stdout } = await new Deno.Command("cat", { args: ["/proc/net/tcp"] }).output();
  return new TextDecoder().decode(stdout);
}

async function keepAliveTimer(localPort: number, remotePort: number): Promise<boolean> {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
  for (let attempt = 0; attempt < 100; attempt++) {
    const lines = (await procNetTcp()).split("\n");
    const fields = lines.map((l) => l.trim().split(/\s+/)).find((f) =>
      f[1] === `0100007F:${hex(localPort)}` && f[2] === `0100007F:${hex(remotePort)}`
    );
    if (fields === undefined) throw new Error("socket not found in /proc/net/tcp");
    if (fields[4].startsWith("00000000:")) return fields[5].startsWith("02:");
    await new Promise((resolve) => setTimeout(resolve, 20)); // unacked data: look again
  }
  throw new Error("the socket kept data in flight");
}

/**
 * Whether keep-alive runs on the client's socket of `transport` (`side` "client") or on the
 * server's end of it; the transport is aborted after the look.
 */
async function keepAliveOn(transport: Transport, side: "client" | "server"): Promise<boolean> {
  const local = transport.getExtraInfo("sockname") as Deno.NetAddr;
  const peer = transport.getExtraInfo("peername") as Deno.NetAddr;
  try {
    return side === "client"
      ? await keepAliveTimer(local.port, peer.port)
      : await keepAliveTimer(peer.port, local.port);
  } finally {
    transport.abort();
    await transport.closed;
  }
}

Deno.test(
  "createConnection: a keepAlive() wrapper enables keep-alive",
  { ignore: !LINUX },
  async () => {
    await using server = await createServer(() => new ProtocolAdapter(), "127.0.0.1:0");
    const { transport } = await createConnection(() => new ProtocolAdapter(), server.addresses[0], {
      wrapper: keepAlive(),
    });
    assertEquals(await keepAliveOn(transport, "client"), true);
  },
);

Deno.test("createConnection: a keepAlive() wrapper over Deno's client TLS says to use the option", async () => {
  await using server = await createServer(() => new ProtocolAdapter(), "127.0.0.1:0", {
    tls: { cert: tls.cert, key: tls.key },
  });
  await assertRejects(
    () =>
      createConnection(() => new ProtocolAdapter(), server.addresses[0], {
        tls: { caCerts: [tls.ca] },
        serverHostname: "localhost",
        wrapper: keepAlive(),
      }),
    Error,
    "createConnection's keepAlive option",
  );
  server.abortClients();
});

Deno.test("createConnection: a keepAlive() wrapper enables keep-alive (from a localAddress)", {
  ignore: !LINUX,
}, async () => {
  await using server = await createServer(() => new ProtocolAdapter(), "127.0.0.1:0");
  const { transport } = await createConnection(() => new ProtocolAdapter(), server.addresses[0], {
    localAddress: "127.0.0.1:0",
    wrapper: keepAlive(),
  });
  assertEquals(await keepAliveOn(transport, "client"), true);
});

for (const useTls of [false, true]) {
  Deno.test(
    `Server: a keepAlive() wrapper enables keep-alive on accepted connections (tls: ${useTls})`,
    { ignore: !LINUX },
    async () => {
      const made = Promise.withResolvers<void>();
      await using server = await createServer(
        () =>
          new (class extends ProtocolAdapter {
            override connectionMade(t: never): void {
              super.connectionMade(t);
              made.resolve();
            }
          })(),
        "127.0.0.1:0",
        useTls
          ? { tls: { cert: tls.cert, key: tls.key }, wrapper: keepAlive() }
          : { wrapper: keepAlive() },
      );
      const { transport } = await createConnection(
        () => new ProtocolAdapter(),
        server.addresses[0],
        {
          tls: useTls ? { caCerts: [tls.ca] } : undefined,
          serverHostname: "localhost",
        },
      );
      await made.promise;
      assertEquals(await keepAliveOn(transport, "server"), true);
    },
  );
}

Deno.test("createConnection: a wrapper that returns no channel closes the socket", async () => {
  await using server = await createServer(() => new ProtocolAdapter(), "127.0.0.1:0");
  const forgotReturn = ((channel: Deno.TcpConn) => {
    channel.setNoDelay(true);
  }) as unknown as Wrapper;
  await assertRejects(() =>
    createConnection(() => new ProtocolAdapter(), server.addresses[0], { wrapper: forgotReturn })
  );
  // The resource sanitizer finds the client's socket if it was left open.
  server.abortClients();
});

Deno.test("Server: a wrapper that returns no channel closes the accepted socket", async () => {
  const errors: Error[] = [];
  const forgotReturn = ((_channel: unknown) => {}) as unknown as Wrapper;
  const server = await createServer(() => new ProtocolAdapter(), "127.0.0.1:0", {
    wrapper: forgotReturn,
    onError: (error) => errors.push(error),
  });
  const { port } = server.addresses[0] as Deno.NetAddr;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  // The server closes what it cannot serve: the client reads EOF (or a reset), not nothing.
  let guard: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    conn.read(new Uint8Array(1)).then((n) => `read ${n}`, (e: Error) => `read failed: ${e.name}`),
    new Promise<string>((resolve) => guard = setTimeout(() => resolve("still open"), 10_000)),
  ]);
  clearTimeout(guard);
  conn.close();
  await server.close();
  assertEquals(outcome === "still open" ? `the server kept the socket: ${errors}` : "", "");
  assertStringIncludes(String(errors[0]), "the wrapper returned undefined, not a channel");
});

Deno.test("a noDelay() wrapper after a user's wrapper over plain TCP passes through", async () => {
  // A channel that forwards the TCP socket's addresses (metrics, logging) was refused as a
  // TLS connection whose socket is hidden: every connection failed.
  await using server = await createServer(() => new ProtocolAdapter(), "127.0.0.1:0");
  const chain = new WrapperChain((channel) => new CountingChannel(channel)).chain(noDelay());
  const { transport } = await createConnection(() => new ProtocolAdapter(), server.addresses[0], {
    wrapper: chain,
  });
  assertEquals((transport.getExtraInfo("sockname") as Deno.NetAddr).transport, "tcp");
  transport.abort();
  await transport.closed;
  server.abortClients();
});

Deno.test("createConnection: a chain [tls(), no return] closes the TLS connection", async () => {
  // The chain passed `undefined` on: the caller closed the TCP conn Deno.startTls had taken,
  // and nothing closed the TLS connection (the resource sanitizer finds it).
  await using server = await createServer(() => new ProtocolAdapter(), "127.0.0.1:0", {
    tls: { cert: tls.cert, key: tls.key },
  });
  const forgotReturn = ((_channel: unknown) => {}) as unknown as Wrapper;
  const chain = new WrapperChain(tlsWrapper({ caCerts: [tls.ca], serverHostname: "localhost" }))
    .chain(forgotReturn);
  await assertRejects(
    () => createConnection(() => new ProtocolAdapter(), server.addresses[0], { wrapper: chain }),
    Error,
    "A chained wrapper returned undefined, not a channel",
  );
  server.abortClients();
});

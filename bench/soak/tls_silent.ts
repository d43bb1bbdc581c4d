/**
 * Silent TLS clients at full size (issue 8.4): 500 connections open TCP to a TLS listener
 * (`handshakeTimeout` 3 s) and never send a ClientHello. Every one must be reported through
 * `onError` as a `TlsHandshakeTimeoutError`, and the server must release every socket (counted
 * from /proc: its fds on the port) within `handshakeTimeout` + 1 s of the last accept, while a
 * well-behaved TLS client is served meanwhile.
 *
 * The clients are a Python process (tests/hostile/_tls_silent.ts); the server runs here.
 * Prints one JSON line; exits 1 when a target is missed.
 *
 * ```
 * deno run -A bench/soak/tls_silent.ts [--connections 500] [--handshake-timeout 3000]
 * ```
 *
 * @module
 */

import { createConnection, createServer } from "@plexus/net/endpoints";
import { ProtocolAdapter } from "@plexus/net/protocol";
import { TlsHandshakeTimeoutError } from "@plexus/net/transport";
import { openSilentClients, pollUntil } from "../../tests/hostile/_tls_silent.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const connections = flag("connections", 500);
const handshakeTimeout = flag("handshake-timeout", 3000);
const fixtures = new URL("../../tests/fixtures/", import.meta.url);
const cert = Deno.readTextFileSync(new URL("leaf.pem", fixtures));
const key = Deno.readTextFileSync(new URL("leaf.key", fixtures));
const ca = Deno.readTextFileSync(new URL("ca.pem", fixtures));

const fds = (): number => [...Deno.readDirSync("/proc/self/fd")].length;

class Echo extends ProtocolAdapter {
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
}

let typed = 0;
const other: string[] = [];
const server = await createServer(() => new Echo(), "127.0.0.1:0", {
  tls: { cert, key, handshakeTimeout },
  backlog: 2048,
  onError: (error) => {
    if (error instanceof TlsHandshakeTimeoutError) typed++;
    else other.push(error.message);
  },
});
const port = (server.addresses[0] as Deno.NetAddr).port;
const fdsBefore = fds();

const clients = await openSilentClients(port, connections);
await pollUntil(clients.serverSockets, (n) => n === connections, 10_000, "the accepted count");
const fdsPeak = fds();

// A well-behaved client is served while the silent ones hold their sockets.
const reply = Promise.withResolvers<string>();
const { transport } = await createConnection(
  () =>
    new (class extends ProtocolAdapter {
      override dataReceived(data: Uint8Array): void {
        reply.resolve(new TextDecoder().decode(data));
      }
    })(),
  server.addresses[0],
  { tls: { caCerts: [ca] } },
);
transport.write(new TextEncoder().encode("hello"));
const served = (await reply.promise) === "hello";
transport.close();
await transport.closed;

let releasedMs = -1;
try {
  releasedMs = await pollUntil(
    clients.serverSockets,
    (n) => n === 0,
    handshakeTimeout + 1000,
    "the open count",
  );
} catch (error) {
  console.error((error as Error).message);
}
const { closedByServer } = await clients.finish(); // also closes its pipes
const fdsAfter = fds();
await server.close();

const figures = {
  connections,
  handshakeTimeout,
  releasedWithinMs: Math.round(releasedMs),
  typedTimeouts: typed,
  otherErrors: other.length,
  closedByServer,
  fds: { before: fdsBefore, peak: fdsPeak, after: fdsAfter },
  goodClientServed: served,
};
console.log(JSON.stringify(figures));
const ok = releasedMs >= 0 && typed === connections && closedByServer === connections &&
  served && fdsAfter <= fdsBefore + 2;
if (!ok) {
  if (other.length > 0) console.error("other errors:", other.slice(0, 5));
  Deno.exit(1);
}

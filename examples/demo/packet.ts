/**
 * The packet part of the demo: cs.packetstream-compatible RPC on loopback, requests in both
 * directions, over TCP and over TLS (with the test CA and leaf certificate).
 */

import { createConnection, createServer } from "@plexus/net/endpoints";
import { PacketConnection, RemoteError } from "@plexus/net/packet";

const fixtures = new URL("../../tests/fixtures/", import.meta.url);
const text = new TextDecoder();

/** rq_type 0: greet, after asking the caller for its name (a request the other way). */
const GREET = 0;
/** rq_type 1 (served by clients): say who you are. */
const NAME = 1;

/** The server side of one connection. */
function serverConnection(): PacketConnection {
  return new PacketConnection({
    requestHandler: async (rqType, _flags, payload, { connection }) => {
      if (rqType !== GREET) throw new RemoteError(1, `unknown rq_type ${rqType}`);
      const name = await connection.call(NAME, undefined, { decode: (p) => text.decode(p) });
      return `hello ${name}, you said "${text.decode(payload)}"`;
    },
  });
}

/** Runs the packet demo, logging each step. */
export async function packetDemo(log: (line: string) => void): Promise<void> {
  const tls = {
    ca: await Deno.readTextFile(new URL("ca.pem", fixtures)),
    cert: await Deno.readTextFile(new URL("leaf.pem", fixtures)),
    key: await Deno.readTextFile(new URL("leaf.key", fixtures)),
  };
  for (const secure of [false, true]) {
    const kind = secure ? "tls" : "tcp";
    await using server = await createServer(
      serverConnection,
      "127.0.0.1:0",
      secure ? { tls: { cert: tls.cert, key: tls.key } } : {},
    );
    const [address] = server.addresses as Deno.NetAddr[];
    const { protocol: client } = await createConnection(
      () => new PacketConnection({ requestHandler: () => `${kind} client` }),
      address,
      secure ? { tls: { caCerts: [tls.ca] } } : {},
    );
    const reply = await client.call(GREET, "ping", { decode: (p) => text.decode(p) });
    log(
      `${kind}: server on 127.0.0.1:${address.port} asked our name back, then answered: ${reply}`,
    );
    const failure = await client.submit(7);
    log(
      `${kind}: rq_type 7 -> ok=${failure.ok} flags=${failure.flags} "${
        text.decode(failure.payload)
      }"`,
    );
    await client.close(); // ERQ, EOF, the server's EOF, then both sides close
    log(`${kind}: closed in order (ERQ, EOF both ways)`);
  }
}

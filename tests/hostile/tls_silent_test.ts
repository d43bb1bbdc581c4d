/**
 * Hostile peers: silent TLS clients (issue 8.4). Clients that open TCP to a TLS listener and
 * never send a ClientHello must lose their sockets when `handshakeTimeout` passes: the server
 * accepts plain TCP and runs the handshake through `node:tls`, so a timeout closes the socket
 * (closing a `Deno.listenTls` connection mid-handshake does not). The clients are a separate
 * Python process (./_tls_silent.ts), which also counts the server's sockets from /proc.
 */
import { assert, assertEquals, assertInstanceOf } from "@std/assert";
import { createServer, Server, tls as tlsWrapper } from "@plexus/net/endpoints";
import { TlsHandshakeTimeoutError } from "@plexus/net/transport";
import { tls } from "../_net.ts";
import { Recorder } from "../_recorder.ts";
import { openSilentClients, pollUntil } from "./_tls_silent.ts";

const CLIENTS = 200;
const HANDSHAKE_TIMEOUT = 1000;
/** The bound: every socket released within handshakeTimeout + 1 s... */
const RELEASE_BOUND = HANDSHAKE_TIMEOUT + 1000;
/** ...plus scheduling slack for a loaded machine running the suite in parallel. */
const SLACK = 1500;

/** Collects the errors a server reports. */
class Reports {
  readonly errors: Error[] = [];
  #wanted = Infinity;
  #all = Promise.withResolvers<void>();
  readonly add = (error: Error): void => {
    this.errors.push(error);
    if (this.errors.length >= this.#wanted) this.#all.resolve();
  };
  /** Resolves once `count` errors have come; rejects after `deadline` ms. */
  async reported(count: number, deadline: number): Promise<void> {
    this.#wanted = count;
    if (this.errors.length >= count) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.errors.length} of ${count} errors after ${deadline} ms`)),
        deadline,
      );
    });
    try {
      await Promise.race([this.#all.promise, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function expectSilentClientsReleased(server: Server, reports: Reports): Promise<void> {
  const port = (server.addresses[0] as Deno.NetAddr).port;
  const clients = await openSilentClients(port, CLIENTS);
  // Every connection is open: the server accepts them from here on, and each handshake timer
  // starts at its accept.
  const opened = performance.now();
  assertEquals(clients.opened, CLIENTS);
  let released = Infinity;
  let closedByServer = -1;
  try {
    await reports.reported(CLIENTS, RELEASE_BOUND + SLACK);
    await pollUntil(clients.serverSockets, (n) => n === 0, 1000, "the open socket count");
    released = performance.now() - opened;
  } finally {
    ({ closedByServer } = await clients.finish());
  }
  assert(released <= RELEASE_BOUND + SLACK, `sockets released after ${released} ms`);
  assertEquals(closedByServer, CLIENTS, "every silent client saw the server close");
  for (const error of reports.errors) {
    assertInstanceOf(error, TlsHandshakeTimeoutError);
    assertEquals((error as TlsHandshakeTimeoutError).timeout, HANDSHAKE_TIMEOUT);
    assert(
      error.message.includes(`timed out after ${HANDSHAKE_TIMEOUT} ms (handshakeTimeout)`),
      error.message,
    );
  }
}

Deno.test("a TLS listener releases the sockets of silent clients when their handshakes time out", async () => {
  const reports = new Reports();
  await using server = await createServer(() => new Recorder(), "127.0.0.1:0", {
    tls: { cert: tls.cert, key: tls.key, handshakeTimeout: HANDSHAKE_TIMEOUT },
    backlog: 1024,
    onError: reports.add,
  });
  await expectSilentClientsReleased(server, reports);
  const [first] = reports.errors as TlsHandshakeTimeoutError[];
  assert(first.peer?.startsWith("127.0.0.1:"), `the error names the peer: ${first.message}`);
});

Deno.test("a server with the tls wrapper releases the sockets of silent clients too", async () => {
  const reports = new Reports();
  await using server = new Server(() => new Recorder(), {
    wrapper: tlsWrapper({ cert: tls.cert, key: tls.key, handshakeTimeout: HANDSHAKE_TIMEOUT }),
    onError: reports.add,
  });
  await server.listen("127.0.0.1:0", { backlog: 1024 });
  await expectSilentClientsReleased(server, reports);
});

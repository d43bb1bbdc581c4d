/**
 * The server side of bench/endpoints.ts, run in its own process so its memory can be read:
 * `raw` is a hand-written `Deno.listen` echo loop (64 KiB buffer per connection), `ours` a
 * Plexus `Server` with an echo protocol. Prints `port N` once listening; SIGTERM stops it.
 */

import { Server } from "@plexus/net/endpoints";
import { ProtocolAdapter } from "@plexus/net/protocol";

const kind = Deno.args[0];

class Echo extends ProtocolAdapter {
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
}

async function rawEcho(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (let n; (n = await conn.read(buffer)) !== null;) {
      for (let offset = 0; offset < n;) offset += await conn.write(buffer.subarray(offset, n));
    }
  } catch {
    // The client went away.
  } finally {
    conn.close();
  }
}

if (kind === "raw") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 4096 });
  console.log(`port ${listener.addr.port}`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  for await (const conn of listener) {
    conn.setNoDelay(true);
    rawEcho(conn);
  }
} else {
  const server = new Server(() => new Echo(), { timeout: 1000 });
  const [address] = await server.listen("127.0.0.1:0", { backlog: 4096 });
  console.log(`port ${(address as Deno.NetAddr).port}`);
  await server.run();
}

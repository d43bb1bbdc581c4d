/**
 * One worker of the multi-core example: a `Server` on the shared port with `reusePort`. Each
 * connection is greeted with the worker's name, then echoed.
 */

/// <reference lib="deno.worker" />

import { Server } from "@plexus/net/endpoints";
import { ProtocolAdapter } from "@plexus/net/protocol";
import type { Transport } from "@plexus/net/transport";

class NamedEcho extends ProtocolAdapter {
  override connectionMade(transport: Transport): void {
    super.connectionMade(transport);
    transport.write(new TextEncoder().encode(`${self.name}\n`));
  }
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
}

let server: Server | undefined;

self.onmessage = async (event: MessageEvent<{ hostname: string; port: number } | "stop">) => {
  if (event.data === "stop") {
    await server?.[Symbol.asyncDispose]();
    self.postMessage("stopped");
    self.close();
    return;
  }
  server = new Server(() => new NamedEcho(), { timeout: 5000 });
  try {
    await server.listen(event.data, { reusePort: true });
  } catch (error) {
    // Told to the main thread, which stops every worker: thrown here, it would end the process.
    self.postMessage(error instanceof Error ? error.message : String(error));
    return;
  }
  self.postMessage("listening");
};

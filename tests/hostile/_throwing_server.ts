/**
 * A server whose protocols throw from `connectionLost()`, run as its own process with no
 * `onError`: the default must log and keep serving (an unhandled `reportError()` would exit).
 * Prints `listening PORT`; echoes each chunk; stops after two connections ended.
 */
import { Server } from "@plexus/net/endpoints";
import type { Protocol, Transport } from "@plexus/net/transport";

let ended = 0;
const done = Promise.withResolvers<void>();

class Throwing implements Protocol {
  transport?: Transport;
  connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
  connectionLost(): void {
    if (++ended === 2) done.resolve();
    throw new Error("connectionLost blew up");
  }
}

const server = new Server(() => new Throwing());
const [address] = await server.listen("127.0.0.1:0");
console.log(`listening ${(address as Deno.NetAddr).port}`);
await done.promise;
await server.shutdown();
console.log("still alive");

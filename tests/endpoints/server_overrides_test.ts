/** Server subclasses: async overrides that reject, and Unix socket files at close(). */

import { assertEquals } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import { createConnection, createServer, Server } from "@plexus/net/endpoints";
import { ProtocolAdapter } from "@plexus/net/protocol";
import {
  type ByteChannel,
  CallbackError,
  type ExtraInfo,
  type StreamTransport,
} from "@plexus/net/transport";

Deno.test("Server: an async handleConnection override that rejects loses its connection, not the process", async () => {
  const reported = Promise.withResolvers<Error>();
  class Picky extends Server {
    override async handleConnection(_channel: ByteChannel, _extra: ExtraInfo): Promise<void> {
      await Promise.resolve();
      throw new Error("no protocol for this peer");
    }
  }
  await using server = new Picky(() => new ProtocolAdapter(), { onError: reported.resolve });
  const [address] = await server.listen("127.0.0.1:0");
  const { transport } = await createConnection(() => new ProtocolAdapter(), address);
  assertEquals((await reported.promise).message, "no protocol for this peer");
  await transport.closed; // the server closed the channel
});

Deno.test("Server: async connectionMade and connectionLost overrides that reject reach onError", async () => {
  const errors: Error[] = [];
  const both = Promise.withResolvers<void>();
  class Hooks extends Server {
    override async connectionMade(_t: StreamTransport): Promise<void> {
      await Promise.resolve();
      throw new Error("made failed");
    }
    override async connectionLost(_t: StreamTransport): Promise<void> {
      await Promise.resolve();
      throw new Error("lost failed");
    }
  }
  await using server = new Hooks(() => new ProtocolAdapter(), {
    onError: (error) => {
      errors.push(error);
      if (errors.length === 2) both.resolve();
    },
  });
  const [address] = await server.listen("127.0.0.1:0");
  const { transport } = await createConnection(() => new ProtocolAdapter(), address);
  transport.close();
  await both.promise;
  assertEquals(errors.map((e) => e instanceof CallbackError), [true, true]);
  assertEquals(errors.map((e) => (e.cause as Error).message), ["made failed", "lost failed"]);
});

Deno.test("Server.close() leaves a Unix socket file that a new server bound meanwhile", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  const old = await createServer(() => new ProtocolAdapter(), { path });
  // A new server binds the path as soon as the old listener is gone (a restart), while the
  // old server's close() still runs: Deno.lstat is where the old code looked at the path.
  let fresh: Deno.Listener | undefined;
  const lstat = Deno.lstat;
  Deno.lstat = (p: string | URL) => {
    if (p === path && fresh === undefined) fresh = Deno.listen({ transport: "unix", path });
    return lstat(p);
  };
  try {
    await old.close();
  } finally {
    Deno.lstat = lstat;
  }
  fresh ??= Deno.listen({ transport: "unix", path });
  const info = await lstat(path).catch(() => undefined);
  fresh.close();
  await Deno.remove(dir, { recursive: true });
  assert(info?.isSocket, "close() deleted the socket file of the server that now owns the path");
  assertInstanceOf(old, Server);
});

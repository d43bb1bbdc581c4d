/**
 * Hostile peers, case 5: a callback that throws after its connection is gone. The error goes to
 * the owner's `onError` as a `CallbackError` naming the connection, never to `reportError()`
 * (which would end the process); the server goes on serving.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { TextLineStream } from "@std/streams";
import { createConnection, Server } from "@plexus/net/endpoints";
import { ProtocolAdapter } from "@plexus/net/protocol";
import { CallbackError, type StreamTransport } from "@plexus/net/transport";
import { assert } from "../_assert.ts";

class ThrowsOnLost extends ProtocolAdapter {
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
  override connectionLost(): void {
    throw new Error("boom");
  }
}

async function roundTrip(address: Deno.Addr): Promise<void> {
  const got = Promise.withResolvers<void>();
  const { transport } = await createConnection(
    () => ({ dataReceived: () => got.resolve() }),
    address,
  );
  transport.write(new Uint8Array([1]));
  await got.promise;
  transport.close();
  await transport.closed;
}

Deno.test("a throwing connectionLost reaches Server onError naming the connection, and the server serves on", async () => {
  const errors: Error[] = [];
  const reported = Promise.withResolvers<void>();
  await using server = new Server(() => new ThrowsOnLost(), {
    onError: (error) => {
      errors.push(error);
      reported.resolve();
    },
  });
  const [address] = await server.listen("127.0.0.1:0");
  await roundTrip(address);
  await reported.promise;
  assert(errors[0] instanceof CallbackError, String(errors[0]));
  assertEquals(errors[0].callback, "connectionLost");
  assertStringIncludes(
    errors[0].message,
    "connectionLost() threw for the connection with 127.0.0.1:",
  );
  assertEquals((errors[0].cause as Error).message, "boom");
  await roundTrip(address); // still serving
});

Deno.test("a throwing Server hook reaches onError as a CallbackError", async () => {
  const reported = Promise.withResolvers<Error>();
  class Hooked extends Server {
    override connectionLost(_t: StreamTransport): void {
      throw new Error("hook failed");
    }
  }
  await using server = new Hooked(() => new ProtocolAdapter(), { onError: reported.resolve });
  const [address] = await server.listen("127.0.0.1:0");
  const { transport } = await createConnection(() => new ProtocolAdapter(), address);
  transport.close();
  const error = await reported.promise;
  assert(error instanceof CallbackError);
  assertEquals(error.callback, "Server.connectionLost");
});

Deno.test("without onError, a throwing connectionLost is logged and the server process lives on", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_throwing_server.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream() as TransformStream<string, string>)[Symbol.asyncIterator]();
  const first = await lines.next();
  const port = Number(String(first.value).split(" ")[1]);
  await roundTrip({ transport: "tcp", hostname: "127.0.0.1", port });
  await roundTrip({ transport: "tcp", hostname: "127.0.0.1", port });
  assertEquals((await lines.next()).value, "still alive");
  await lines.return?.();
  const { code } = await child.status;
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  assertEquals(code, 0, stderr);
  assertStringIncludes(stderr, "connectionLost() threw for the connection with 127.0.0.1:");
});

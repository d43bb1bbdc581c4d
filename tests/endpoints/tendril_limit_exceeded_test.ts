/**
 * A TCP tendril's application hears a frame deadline run out (`limitExceeded`) and can tell the
 * peer why before the close; the manager's `deadlines` option sets the limits.
 */
import { assertEquals } from "@std/assert";
import { Application, TcpTendrilManager } from "@plexus/net/endpoints";
import type { DeadlineError, Transport } from "@plexus/net/transport";

class Strict extends Application {
  readonly lost = Promise.withResolvers<Error | undefined>();
  frameReceived(_frame: Uint8Array): void {}
  override limitExceeded(error: DeadlineError): void {
    this.sendFrame(new TextEncoder().encode(`ERR ${error.limit}`));
  }
  override closed(error: Error | undefined): void {
    this.lost.resolve(error);
  }
}

Deno.test("a TCP tendril's limitExceeded tells a peer that trickles a line why", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0", { deadlines: { frameTimeout: 50 } });
  const app = Promise.withResolvers<Strict>();
  await manager.start((tendril) => {
    const made = new Strict(tendril);
    app.resolve(made);
    return made;
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: manager.localAddress!.port });
  await conn.write(new TextEncoder().encode("half a li")); // and nothing more
  const answer = await new Response(conn.readable).text(); // to the server's EOF
  const error = await (await app.promise).lost.promise;
  assertEquals(answer, "ERR frameTimeout\r\n");
  assertEquals((error as DeadlineError).limit, "frameTimeout");
  await manager.shutdown();
});

Deno.test("a TCP manager's deadlines with firstFrameTimeout: undefined keep no first-frame limit", async () => {
  // Forwarded from a caller's options: undefined is not given (it brought back the 30 s cut).
  const forwarded = { firstFrameTimeout: undefined, frameTimeout: 5000 };
  const manager = new TcpTendrilManager("127.0.0.1:0", { deadlines: forwarded });
  const seen = Promise.withResolvers<Strict>();
  await manager.start((tendril) => {
    const made = new Strict(tendril);
    seen.resolve(made);
    return made;
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: manager.localAddress!.port });
  const app = await seen.promise;
  const transport =
    (app.tendril as unknown as { framed: { transport: Transport } }).framed.transport;
  const first = transport.deadlineClock?.deadlines.firstFrameTimeout;
  conn.close();
  await manager.shutdown();
  assertEquals(first, Infinity);
});

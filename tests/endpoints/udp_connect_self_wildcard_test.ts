import { assertEquals } from "@std/assert";
import { Application, UdpTendrilManager } from "@plexus/net/endpoints";

class Frames extends Application {
  readonly got = Promise.withResolvers<string>();
  frameReceived(frame: Uint8Array): void {
    this.got.resolve(new TextDecoder().decode(frame));
  }
}

Deno.test("UDP manager on [::]: connect() to its own localAddress hears its own frames", async () => {
  const others: Frames[] = [];
  const manager = new UdpTendrilManager("[::]:0");
  await manager.start((t) => {
    const app = new Frames(t);
    others.push(app);
    return app;
  });
  let self!: Frames;
  const tendril = (await manager.connect(manager.localAddress!, (t) => (self = new Frames(t))))!;
  tendril.sendFrame(new TextEncoder().encode("me"));
  const guard = Promise.withResolvers<string>();
  const timer = setTimeout(() => guard.resolve("timeout"), 1000);
  const got = await Promise.race([self.got.promise, guard.promise]);
  clearTimeout(timer);
  console.log(JSON.stringify([...manager.tendrils.keys()]), others.length);
  await manager.shutdown();
  assertEquals(got, "me");
});

import { assertEquals, assertRejects } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import { Application, type Tendril, UdpTendrilManager } from "@plexus/net/endpoints";
import { TransportError, WriteBufferOverflowError } from "@plexus/net/transport";

class Quiet extends Application {
  frameReceived(_frame: Uint8Array): void {}
}

/** An application that resolves `first` with its first frame. */
class FirstFrame extends Application {
  readonly first = Promise.withResolvers<Uint8Array>();
  frameReceived(frame: Uint8Array): void {
    this.first.resolve(frame.slice());
  }
}

const udpSocket = (): Deno.DatagramConn =>
  Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });

/**
 * Sends 65000-byte frames from `tendril` in one turn until the manager's socket passes its
 * 64 MiB cap: the socket is lost with a WriteBufferOverflowError.
 */
function overflow(tendril: Tendril): number {
  const frame = new Uint8Array(65_000);
  let sent = 0;
  for (; sent < 1100; sent++) tendril.sendFrame(frame);
  return sent;
}

Deno.test("UDP tendril: frames sent while the manager's socket is closing are dropped, not thrown", async () => {
  const sink = udpSocket();
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const tendril = (await client.connect(sink.addr, (t) => new Quiet(t)))!;
  // Past the cap the socket closes; the peer hears of it only from connectionLost, so the
  // frames after that are sent to a closing transport: dropped, as every transport drops them.
  assertEquals(overflow(tendril), 1100);
  assertInstanceOf(await tendril.closed, WriteBufferOverflowError);
  await client.shutdown();
  sink.close();
});

Deno.test("UDP manager: a second start() while the first binds is refused and leaks no socket", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  const first = manager.start((t) => new Quiet(t));
  await assertRejects(
    () => manager.start((t) => new Quiet(t)),
    TransportError,
    "Cannot start: the manager is already running",
  );
  await first;
  assert(manager.running);
  await manager.shutdown();
});

Deno.test("UDP manager: start() after its socket was lost binds a new one", async () => {
  const sink = udpSocket();
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start();
  const tendril = (await manager.connect(sink.addr, (t) => new Quiet(t)))!;
  try {
    overflow(tendril);
  } catch {
    // Without the fix for dropped frames, a frame sent to the closing socket throws.
  }
  assertInstanceOf(await tendril.closed, WriteBufferOverflowError);
  assert(!manager.running, "a lost socket stops the manager");
  const app = Promise.withResolvers<FirstFrame>();
  await manager.start((t) => {
    const made = new FirstFrame(t);
    app.resolve(made);
    return made;
  });
  assert(manager.running);
  const peer = udpSocket();
  await peer.send(new TextEncoder().encode("again"), manager.localAddress!);
  // Kept, the dead socket receives nothing: give up after 2 s rather than hang.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) =>
    timer = setTimeout(() => resolve(undefined), 2000)
  );
  const frame = await Promise.race([app.promise.then((a) => a.first.promise), late]);
  clearTimeout(timer);
  assertEquals(frame && new TextDecoder().decode(frame), "again");
  await manager.shutdown();
  peer.close();
  sink.close();
});

Deno.test("UDP manager: shutdown() or stop() while start() binds: start() rejects, no socket left", async () => {
  // Caught from the start: start() settles while shutdown()/stop() is awaited.
  const outcome = (p: Promise<void>) => p.then(() => undefined, (error: Error) => error);
  const shut = new UdpTendrilManager("127.0.0.1:0");
  const starting = outcome(shut.start());
  await shut.shutdown(); // waits for the bind, then closes its socket
  assertInstanceOf(await starting, TransportError);
  assertEquals((await starting)?.message, "Cannot start: the manager was shut down");
  assert(!shut.running && shut.shutDown);

  const stopped = new UdpTendrilManager("127.0.0.1:0");
  const again = outcome(stopped.start());
  await stopped.stop();
  assertEquals((await again)?.message, "Cannot start: stopped meanwhile");
  assert(!stopped.running);
  await stopped.shutdown(); // the socket bound meanwhile is closed with the manager
});

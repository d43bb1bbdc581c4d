/**
 * Tendril applications hear their connection's write flow control (`pauseWriting` /
 * `resumeWriting`), over TCP and over a UDP manager's shared socket, and may answer the bytes
 * their framer rejected (`frameError`); a UDP manager reports the send failures its socket
 * survives.
 */

import { assertEquals } from "@std/assert";
import { assert, assertInstanceOf } from "../_assert.ts";
import {
  Application,
  TcpTendrilManager,
  type Tendril,
  UdpTendrilManager,
} from "@plexus/net/endpoints";
import { FrameTooLongError, IdentityFramer, LineFramer } from "@plexus/net/framing";
import { TransportError } from "@plexus/net/transport";

/** Records its flow-control calls and its end; `until()` waits for a condition on them. */
class Watching extends Application {
  readonly events: string[] = [];
  readonly #waiters: { check: () => boolean; resolve: () => void }[] = [];

  constructor(tendril: Tendril, readonly onFrame?: (frame: Uint8Array) => void) {
    super(tendril);
  }

  frameReceived(frame: Uint8Array): void {
    this.onFrame?.(frame);
  }

  override pauseWriting(): void {
    this.#record("pause");
  }

  override resumeWriting(): void {
    this.#record("resume");
  }

  override closed(error: Error | undefined): void {
    this.#record(error ? `closed: ${error.message}` : "closed");
  }

  until(check: (events: string[]) => boolean): Promise<void> {
    if (check(this.events)) return Promise.resolve();
    return new Promise((resolve) =>
      this.#waiters.push({ check: () => check(this.events), resolve })
    );
  }

  #record(event: string): void {
    this.events.push(event);
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.check()) waiter.resolve();
      else this.#waiters.push(waiter);
    }
  }
}

const BIG = 4 * 1024 * 1024;

/** Reads from `conn` until `bytes` have come. */
async function drain(conn: Deno.Conn, bytes: number): Promise<void> {
  const buffer = new Uint8Array(256 * 1024);
  for (let got = 0; got < bytes;) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`EOF after ${got} of ${bytes} bytes`);
    got += n;
  }
}

Deno.test("TCP tendril: an application made while writing is paused hears pauseWriting, then resumeWriting", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0", { framer: () => new IdentityFramer() });
  const made = Promise.withResolvers<Watching>();
  await manager.start((tendril) => {
    tendril.sendFrame(new Uint8Array(BIG)); // over the high watermark: paused before the app exists
    const app = new Watching(tendril);
    made.resolve(app);
    return app;
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: manager.localAddress!.port });
  const app = await made.promise;
  await app.until((events) => events.includes("pause"));
  assertEquals(app.events, ["pause"], "told once the acceptor returned, before any byte was read");
  await drain(conn, BIG);
  await app.until((events) => events.includes("resume"));
  assertEquals(app.events, ["pause", "resume"]);
  conn.close();
  await manager.shutdown();
});

Deno.test("TCP tendril: a large frame sent from frameReceived pauses and resumes the application", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0", { framer: () => new IdentityFramer() });
  const made = Promise.withResolvers<Watching>();
  await manager.start((tendril) => {
    const app = new Watching(tendril, () => app.sendFrame(new Uint8Array(BIG)));
    made.resolve(app);
    return app;
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: manager.localAddress!.port });
  await conn.write(new Uint8Array([1]));
  const app = await made.promise;
  await app.until((events) => events.includes("pause"));
  await drain(conn, BIG);
  await app.until((events) => events.includes("resume"));
  assertEquals(app.events, ["pause", "resume"]);
  conn.close();
  await manager.shutdown();
});

Deno.test("UDP tendrils: the shared socket's pause and resume reach every application; one that throws ends alone", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  const clients = Array.from(
    { length: 3 },
    () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  );
  const [quiet, thrower, burster] = clients;
  const late = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const apps = new Map<number, Promise<Watching>>();
  const made = new Map<number, (app: Watching) => void>();
  for (const client of [...clients, late]) {
    const port = (client.addr as Deno.NetAddr).port;
    apps.set(port, new Promise((resolve) => made.set(port, resolve)));
  }
  const port = (conn: Deno.DatagramConn): number => (conn.addr as Deno.NetAddr).port;
  let lateApp: Promise<Tendril | undefined> | undefined;
  const burst = (app: Watching): void => {
    // 256 datagrams of 1000 bytes in one turn: the socket buffers them past its high watermark.
    for (let i = 0; i < 256; i++) app.sendFrame(new Uint8Array(1000));
    assertEquals(app.events, ["pause"], "paused inside sendFrame");
    // A peer opened while the socket is paused starts paused.
    lateApp = manager.connect(late.addr, (tendril) => {
      const made = new Watching(tendril);
      made.until((events) => events.includes("pause")).then(() => made.close());
      return made;
    });
  };
  await manager.start((tendril) => {
    const key = tendril.remoteAddress.port;
    const app = key === port(thrower)
      ? new class extends Watching {
        override pauseWriting(): void {
          throw new Error("cannot pause");
        }
      }(tendril)
      : new Watching(tendril, key === port(burster) ? () => burst(app) : undefined);
    made.get(key)!(app);
    return app;
  });
  const hello = new Uint8Array([1]);
  await quiet.send(hello, manager.localAddress!);
  const quietApp = await apps.get(port(quiet))!;
  await thrower.send(hello, manager.localAddress!);
  const throwerApp = await apps.get(port(thrower))!;
  await burster.send(hello, manager.localAddress!);
  const bursterApp = await apps.get(port(burster))!;
  await bursterApp.until((events) => events.includes("resume"));
  await quietApp.until((events) => events.includes("resume"));
  assertEquals(quietApp.events, ["pause", "resume"]);
  assertEquals(bursterApp.events, ["pause", "resume"]);
  await throwerApp.until((events) => events.length > 0);
  assertEquals(throwerApp.events, ["closed: cannot pause"], "a throw ends that peer alone");
  const lateTendril = await lateApp!;
  assert(lateTendril !== undefined);
  assertEquals(await lateTendril.closed, undefined, "the late application heard pauseWriting");
  await manager.shutdown();
  for (const client of [...clients, late]) client.close();
});

Deno.test("UDP tendril: a made-while-paused application hears pauseWriting once its acceptor returns", async () => {
  const manager = new UdpTendrilManager("127.0.0.1:0");
  const burster = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const waiter = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const gate = Promise.withResolvers<void>();
  const waiting = Promise.withResolvers<void>();
  const waiterApp = Promise.withResolvers<Watching>();
  const bursterApp = Promise.withResolvers<Watching>();
  await manager.start(async (tendril) => {
    if (tendril.remoteAddress.port === (waiter.addr as Deno.NetAddr).port) {
      waiting.resolve();
      await gate.promise; // the acceptor still runs when the socket pauses
      const app = new Watching(tendril);
      waiterApp.resolve(app);
      return app;
    }
    const app = new Watching(tendril, () => {
      for (let i = 0; i < 256; i++) app.sendFrame(new Uint8Array(1000));
      gate.resolve();
    });
    bursterApp.resolve(app);
    return app;
  });
  await waiter.send(new Uint8Array([1]), manager.localAddress!);
  // The waiter's tendril exists (its acceptor waits) before the burst starts.
  await waiting.promise;
  await burster.send(new Uint8Array([1]), manager.localAddress!);
  const app = await waiterApp.promise;
  await app.until((events) => events.includes("resume"));
  assertEquals(app.events, ["pause", "resume"]);
  await (await bursterApp.promise).until((events) => events.includes("resume"));
  await manager.shutdown();
  burster.close();
  waiter.close();
});

Deno.test("UDP manager: a failed send the socket survives reaches onError; the tendril goes on", async () => {
  const errors: Error[] = [];
  const reported = Promise.withResolvers<void>();
  const manager = new UdpTendrilManager("127.0.0.1:0", {
    onError: (error) => {
      errors.push(error);
      reported.resolve();
    },
  });
  await manager.start();
  // Port 0 is no destination: the kernel refuses the send (EINVAL), the socket stays usable.
  const tendril = (await manager.connect("127.0.0.1:0", (t) => new Watching(t)))!;
  tendril.sendFrame(new Uint8Array([1, 2, 3]));
  await reported.promise;
  assertInstanceOf(errors[0], TransportError);
  assertEquals(errors[0].message.startsWith("Send to 127.0.0.1:0 failed"), true, errors[0].message);
  assert(manager.running, "the socket survived");
  await manager.shutdown();
});

Deno.test("TCP tendril: an application's frameError answers a rejected line before the graceful close", async () => {
  class Smtp extends Application {
    readonly ended = Promise.withResolvers<Error | undefined>();
    frameReceived(): void {}
    override frameError(error: Error): void {
      this.sendFrame(new TextEncoder().encode(`500 ${error.name}`));
    }
    override closed(error: Error | undefined): void {
      this.ended.resolve(error);
    }
  }
  const manager = new TcpTendrilManager("127.0.0.1:0", {
    framer: () => new LineFramer({ maxLength: 32 }),
  });
  const made = Promise.withResolvers<Smtp>();
  await manager.start((tendril) => {
    const app = new Smtp(tendril);
    made.resolve(app);
    return app;
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: manager.localAddress!.port });
  await conn.write(new TextEncoder().encode(`${"x".repeat(100)}\r\n`));
  const app = await made.promise;
  assertInstanceOf(await app.ended.promise, FrameTooLongError);
  const reply = await new Response(conn.readable).text(); // to the server's close
  assertEquals(reply, "500 FrameTooLongError\r\n");
  await manager.shutdown();
});

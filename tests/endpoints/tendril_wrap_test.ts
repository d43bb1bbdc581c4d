import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  Application,
  getManager,
  registerManager,
  TcpTendrilManager,
  type Tendril,
  tls,
  UdpTendrilManager,
  type Wrapper,
} from "@plexus/net/endpoints";
import { LineFramer } from "@plexus/net/framing";
import { type ByteChannel, TransportError } from "@plexus/net/transport";
import { tls as fixtures } from "../_net.ts";
import { bytes, text } from "../_shared.ts";

class Echo extends Application {
  frameReceived(line: Uint8Array): void {
    this.sendFrame(line);
  }
}

class Reply extends Application {
  readonly reply = Promise.withResolvers<string>();
  frameReceived(line: Uint8Array): void {
    this.reply.resolve(text(line));
  }
}

/** A wrapper that counts the bytes written through it, and the sides it ran on. */
function counting(): { wrapper: Wrapper; written: () => number; sides: string[] } {
  let written = 0;
  const sides: string[] = [];
  const wrapper: Wrapper = (inner, { side }) => {
    sides.push(side);
    const channel: ByteChannel = {
      read: (p) => inner.read(p),
      write: async (p) => {
        const n = await inner.write(p);
        written += n;
        return n;
      },
      closeWrite: () => inner.closeWrite(),
      close: () => inner.close(),
      get closed() {
        return inner.closed;
      },
      localAddr: inner.localAddr,
      remoteAddr: inner.remoteAddr,
    };
    return channel;
  };
  return { wrapper, written: () => written, sides };
}

Deno.test("an acceptor wraps its tendril with TLS; both ends talk through it", async () => {
  const manager = new TcpTendrilManager("127.0.0.1:0");
  await manager.start(async (tendril: Tendril) => {
    await tendril.wrap(tls({ cert: fixtures.cert, key: fixtures.key }));
    return new Echo(tendril);
  });
  try {
    const tendril = await manager.connect(manager.localAddress!, async (t) => {
      await t.wrap(tls({ caCerts: [fixtures.ca], serverHostname: "localhost" }));
      return new Reply(t);
    });
    tendril!.sendFrame(bytes("over TLS"));
    assertEquals(await (tendril!.application as Reply).reply.promise, "over TLS");
    // A plaintext client gets no echo: the server side speaks TLS only.
    const raw = await Deno.connect({ hostname: "127.0.0.1", port: manager.localAddress!.port });
    await raw.write(bytes("plain\n"));
    const buffer = new Uint8Array(64);
    let got = "";
    for (let n = await raw.read(buffer).catch(() => null); n !== null;) {
      got += text(buffer.subarray(0, n));
      n = await raw.read(buffer).catch(() => null);
    }
    raw.close();
    assertEquals(got.includes("plain"), false);
  } finally {
    await manager.shutdown();
  }
});

Deno.test("wrap() applies any wrapper, told which side it runs on", async () => {
  const server = counting();
  const client = counting();
  const manager = new TcpTendrilManager("127.0.0.1:0");
  await manager.start(async (tendril: Tendril) => {
    await tendril.wrap(server.wrapper);
    return new Echo(tendril);
  });
  try {
    const tendril = await manager.connect(manager.localAddress!, async (t) => {
      await t.wrap(client.wrapper);
      return new Reply(t);
    });
    tendril!.sendFrame(bytes("counted"));
    assertEquals(await (tendril!.application as Reply).reply.promise, "counted");
    assertEquals([server.sides, client.sides], [["server"], ["client"]]);
    assertEquals([server.written(), client.written()], [9, 9]); // "counted\r\n"
  } finally {
    await manager.shutdown();
  }
});

Deno.test("a wrapper that fails closes the tendril; the acceptor sees the error", async () => {
  const failed = Promise.withResolvers<unknown>();
  const manager = new TcpTendrilManager("127.0.0.1:0");
  await manager.start(async (tendril: Tendril) => {
    try {
      await tendril.wrap(() => Promise.reject(new Error("no wrapping today")));
    } catch (error) {
      failed.resolve(error);
      throw error;
    }
    return new Echo(tendril);
  });
  try {
    const raw = await Deno.connect({ hostname: "127.0.0.1", port: manager.localAddress!.port });
    const error = await failed.promise;
    assertEquals(
      String(error),
      "TransportError: Wrapping the connection failed: no wrapping today",
    );
    assertEquals(await raw.read(new Uint8Array(8)).catch(() => null), null);
    raw.close();
    assertEquals(manager.tendrils.size, 0);
  } finally {
    await manager.shutdown();
  }
});

Deno.test("registerManager: getManager makes and finds managers of a user's protocol", async () => {
  const made: string[] = [];
  registerManager("Test-Lines80", (address, options) => {
    made.push(String(address));
    return new TcpTendrilManager(address, {
      ...options,
      framer: () => new LineFramer({ maxLength: 80 }),
    });
  });
  const manager = getManager("test-lines80", "127.0.0.1:0");
  assertEquals(getManager("TEST-LINES80", "127.0.0.1:0"), manager);
  assertEquals(made, ["127.0.0.1:0"]);
  assertThrows(() => registerManager("test-lines80", () => manager), TypeError, "already");
  assertThrows(() => registerManager("tcp", () => manager), TypeError, "already");
  assertThrows(() => getManager("sctp", "127.0.0.1:0"), TypeError, "registerManager()");
  await manager.start((tendril) => new Echo(tendril));
  const tendril = await manager.connect(manager.localAddress!, (t) => new Reply(t));
  tendril!.sendFrame(bytes("short"));
  assertEquals(await (tendril!.application as Reply).reply.promise, "short");
  await manager.shutdown();
  await assertRejects(() => manager.start(), Error, "shut down");
});

Deno.test("Tendril.wrap() on a UDP tendril throws TransportError at once, as its doc says", async () => {
  class Nop extends Application {
    frameReceived(): void {}
  }
  const server = new UdpTendrilManager("127.0.0.1:0");
  await server.start((t) => new Nop(t));
  const client = new UdpTendrilManager("127.0.0.1:0");
  await client.start();
  const tendril = (await client.connect(server.localAddress!, (t) => new Nop(t)))!;
  try {
    assertThrows(() => void tendril.wrap((channel) => channel), TransportError, "only a TCP");
  } finally {
    await client.shutdown();
    await server.shutdown();
  }
});

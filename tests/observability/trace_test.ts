import { assert, assertEquals, assertThrows } from "@std/assert";
import diagnosticsChannel from "node:diagnostics_channel";
import { createConnection, createServer } from "@plexus/net/endpoints";
import { FramedProtocol, LineFramer } from "@plexus/net/framing";
import { Packet, PacketConnection, type PacketTraceEvent } from "@plexus/net/packet";
import {
  CONNECTION_CHANNEL,
  type ConnectionTraceEvent,
  FRAME_CHANNEL,
  type FrameTraceEvent,
  PACKET_CHANNEL,
  type PacketTraceMessage,
  StreamTransport,
  subscribe,
  traceToConsole,
} from "@plexus/net/transport";
import { bytes, text } from "../_shared.ts";
import { tcpPair } from "../_net.ts";
import { encode } from "../packet/_helpers.ts";

type Event = ConnectionTraceEvent | FrameTraceEvent | PacketTraceMessage;

/** Subscribes to every channel, keeping the events of the connections named in `names`. */
function record(names: readonly string[]): { events: Event[]; subscription: Disposable } {
  const events: Event[] = [];
  const keep = (e: Event): void => {
    if (names.includes(e.name)) events.push(e);
  };
  return { events, subscription: subscribe({ connection: keep, frame: keep, packet: keep }) };
}

/** One line per event, for exact comparison. */
function describe(e: Event): string {
  if ("event" in e) {
    return e.event === "open" ? "open" : `close ${e.reason}${e.error ? ` ${e.error.message}` : ""}`;
  }
  if ("text" in e) return `packet ${e.direction} ${e.text}`;
  const frame = e.frame instanceof Uint8Array ? ` ${JSON.stringify(text(e.frame))}` : "";
  const wire = e.bytes ? JSON.stringify(text(e.bytes)) : "?";
  return `frame ${e.direction} ${e.framer} ${wire}${frame}`;
}

function of(events: Event[], name: string): string[] {
  return events.filter((e) => e.name === name).map(describe);
}

Deno.test("a line exchange over TCP traces open, each frame with its wire bytes, and close with its reason", async () => {
  const { events, subscription } = record(["server", "client"]);
  using _ = subscription;
  const hexLines: string[] = [];
  using _console = traceToConsole({ hex: true, channels: ["frame"], log: (l) => hexLines.push(l) });
  const [serverConn, clientConn] = await tcpPair();
  const server = new FramedProtocol(new LineFramer(), {
    frameReceived: (line, framed) => framed.sendFrame(bytes(text(line).toUpperCase())),
  });
  let replies = 0;
  const client = new FramedProtocol(new LineFramer(), {
    connectionMade(framed) {
      framed.sendFrame(bytes("hello"));
      framed.sendFrame(bytes("world"));
    },
    frameReceived: (_line, framed) => {
      if (++replies === 2) framed.close();
    },
  });
  const a = new StreamTransport(serverConn, server, { name: "server" });
  const b = new StreamTransport(clientConn, client, { name: "client" });
  await Promise.all([a.closed, b.closed]);

  assertEquals(of(events, "client"), [
    "open",
    'frame send LineFramer "hello\\r\\n" "hello"',
    'frame send LineFramer "world\\r\\n" "world"',
    'frame receive LineFramer "HELLO\\r\\n" "HELLO"',
    'frame receive LineFramer "WORLD\\r\\n" "WORLD"',
    "close close",
  ]);
  assertEquals(of(events, "server"), [
    "open",
    'frame receive LineFramer "hello\\r\\n" "hello"',
    'frame send LineFramer "HELLO\\r\\n" "HELLO"',
    'frame receive LineFramer "world\\r\\n" "world"',
    'frame send LineFramer "WORLD\\r\\n" "WORLD"',
    "close peer-eof",
  ]);
  // The events carry the transport itself, and the frame sent is the frame given.
  const open = events.find((e) => e.name === "client") as ConnectionTraceEvent;
  assert(open.transport === b);
  const sent = events.find((e) => "frame" in e && e.name === "client") as FrameTraceEvent;
  assertEquals(text(sent.frame as Uint8Array), "hello");

  // The ready subscriber prints the same frames as Netty LoggingHandler tables.
  const clientHello = hexLines.find((l) => l.startsWith("[client] WRITE FRAME LineFramer: 7B"));
  assert(clientHello, hexLines.join("\n"));
  assertEquals(
    clientHello!.split("\n")[4],
    "|00000000| 68 65 6c 6c 6f 0d 0a                            |hello..         |",
  );
  assertEquals(
    hexLines.filter((l) => l.startsWith("[server] READ FRAME LineFramer: 7B")).length,
    2,
  );
});

Deno.test("packets over TCP trace in cs.packetstream's text form, each after its frame, named by the name option", async () => {
  const { events, subscription } = record(["srv", "cli"]);
  using _ = subscription;
  const own: PacketTraceEvent[] = [];
  let serverSide: PacketConnection | undefined;
  await using server = await createServer(
    () =>
      serverSide = new PacketConnection({
        name: "srv",
        requestHandler: (_rqType, _flags, payload) => text(payload).toUpperCase(),
      }),
    "127.0.0.1:0",
  );
  const { protocol: client } = await createConnection(
    () => new PacketConnection({ name: "cli", trace: (e) => own.push(e) }),
    server.addresses[0],
  );
  assertEquals(text(await client.call(0, "hi")), "HI");
  await client.close();
  await serverSide!.closed;

  const request = Packet.request(2, 0, { payload: bytes("hi") });
  const response = Packet.response(2, true, { payload: bytes("HI") });
  const frame = (direction: string, framer: string, packet: Packet): string =>
    `frame ${direction} ${framer} ${JSON.stringify(text(encode(packet)))}`;
  const sent = (p: Packet): string[] => [
    frame("send", "PacketEncoder", p),
    `packet send ${p.toString()}`,
  ];
  const received = (p: Packet): string[] => [
    frame("receive", "PacketDecoder", p),
    `packet receive ${p.toString()}`,
  ];
  assertEquals(of(events, "cli"), [
    "open",
    ...sent(request),
    ...received(response),
    ...sent(Packet.ERQ),
    ...sent(Packet.EOF),
    ...received(Packet.ERQ),
    ...received(Packet.EOF),
    "close close",
  ]);
  assertEquals(of(events, "srv"), [
    "open",
    ...received(request),
    ...sent(response),
    ...received(Packet.ERQ),
    ...received(Packet.EOF),
    ...sent(Packet.ERQ),
    ...sent(Packet.EOF),
    "close close",
  ]);
  // The original's text form, exactly.
  const first = events.find((e) => "text" in e) as PacketTraceEvent;
  assertEquals(
    first.text,
    "Packet(isRequest=true,channel=0,tag=2,rqType=1,flags=0x0,payload=6869)",
  );
  // One mechanism: the trace option gets the very events published on the channel.
  const published = events.filter((e) => "text" in e && e.name === "cli");
  assertEquals(own.length, 6);
  assert(own.every((e, i) => e === published[i]));
  assert(own[0].transport === client.transport);
});

Deno.test("an unnamed connection is named by its peer's host:port, in events and PacketConnection.name", async () => {
  const opened: ConnectionTraceEvent[] = [];
  using _ = subscribe({ connection: (e) => e.event === "open" && opened.push(e) });
  let serverSide: PacketConnection | undefined;
  await using server = await createServer(
    () => serverSide = new PacketConnection({ requestHandler: () => "ok" }),
    "127.0.0.1:0",
  );
  const { protocol: client, transport } = await createConnection(
    () => new PacketConnection(),
    server.addresses[0],
  );
  await client.call(0);
  const port = (server.addresses[0] as Deno.NetAddr).port;
  const local = (transport.getExtraInfo("sockname") as Deno.NetAddr).port;
  assertEquals(client.name, `127.0.0.1:${port}`);
  assertEquals(serverSide!.name, `127.0.0.1:${local}`);
  const names = opened.map((e) => e.name);
  assert(names.includes(`127.0.0.1:${port}`), names.join());
  assert(names.includes(`127.0.0.1:${local}`), names.join());
  await client.close();
});

Deno.test("without subscribers nothing is published, and no event, text or copy is made", async () => {
  const channels = [CONNECTION_CHANNEL, FRAME_CHANNEL, PACKET_CHANNEL].map((name) =>
    diagnosticsChannel.channel(name)
  );
  const published = [0, 0, 0];
  // A channel swaps its prototype as it gains and loses subscribers (Node's ActiveChannel):
  // the spy calls whichever publish the prototype has now.
  channels.forEach((channel, i) => {
    channel.publish = (message: unknown) => {
      published[i]++;
      Object.getPrototypeOf(channel).publish.call(channel, message);
    };
  });
  const toString = Packet.prototype.toString;
  let texts = 0;
  Packet.prototype.toString = function (this: Packet): string {
    texts++;
    return toString.call(this);
  };
  try {
    const exchange = async (): Promise<void> => {
      await using server = await createServer(
        () => new PacketConnection({ requestHandler: (_t, _f, p) => p }),
        "127.0.0.1:0",
      );
      const { protocol: client } = await createConnection(
        () => new PacketConnection(),
        server.addresses[0],
      );
      for (let i = 0; i < 10; i++) await client.call(0, "ping");
      await client.close();
      const [a, b] = await tcpPair();
      const echo = new FramedProtocol(new LineFramer(), {
        frameReceived: (line, framed) => framed.sendFrame(line),
      });
      const line = new FramedProtocol(new LineFramer(), {
        connectionMade: (framed) => framed.sendFrame(bytes("x")),
        frameReceived: (_l, framed) => framed.close(),
      });
      const ta = new StreamTransport(a, echo);
      const tb = new StreamTransport(b, line);
      await Promise.all([ta.closed, tb.closed]);
    };
    await exchange();
    assertEquals(published, [0, 0, 0]);
    assertEquals(texts, 0);

    // The same traffic with a subscriber on the connection channel only: no frame or packet
    // event is built; with all three, every kind is (the spies above do see publishing).
    {
      using _ = subscribe({ connection: () => {} });
      await exchange();
    }
    assertEquals(published[0] > 0 && published[1] === 0 && published[2] === 0, true);
    assertEquals(texts, 0);
    {
      using _ = subscribe({ connection: () => {}, frame: () => {}, packet: () => {} });
      await exchange();
    }
    assert(published[1] > 0 && published[2] > 0, String(published));
    assert(texts > 0);
  } finally {
    for (const channel of channels) delete (channel as { publish?: unknown }).publish;
    Packet.prototype.toString = toString;
  }
});

Deno.test("a throwing subscriber is logged and never breaks the connection", async () => {
  const logged: unknown[][] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => void logged.push(args);
  try {
    using _ = subscribe({
      frame: () => {
        throw new Error("subscriber bug");
      },
    });
    const [a, b] = await tcpPair();
    const got: string[] = [];
    const echo = new FramedProtocol(new LineFramer(), {
      frameReceived: (line, framed) => framed.sendFrame(line),
    });
    const client = new FramedProtocol(new LineFramer(), {
      connectionMade: (framed) => framed.sendFrame(bytes("still works")),
      frameReceived: (line, framed) => {
        got.push(text(line));
        framed.close();
      },
    });
    const ta = new StreamTransport(a, echo);
    const tb = new StreamTransport(b, client);
    assertEquals(await tb.closed, undefined);
    await ta.closed;
    assertEquals(got, ["still works"]);
    assertEquals(logged.length, 4); // two frames each way
    assertEquals((logged[0][1] as Error).message, "subscriber bug");
  } finally {
    console.error = error;
  }
});

Deno.test("traceToConsole refuses a bad maxBytes when called, not once per frame", () => {
  // It threw inside the subscriber on every frame (each logged as a subscriber error).
  for (const maxBytes of [-1, NaN]) {
    assertThrows(() => traceToConsole({ maxBytes, log() {} }), RangeError, "maxBytes");
  }
});

import { feed } from "../_shared.ts";
import { assertEquals, assertThrows } from "@std/assert";
import {
  decodeBSUInt,
  decodeFrames,
  encodeBSUInt,
  ReceiveBuffer,
  TruncatedFrameError,
  varintLength,
} from "@plexus/net/framing";
import { SendBuffer } from "@plexus/net/transport";
import { Packet, PacketError, PacketFramer, PacketTooLongError } from "@plexus/net/packet";
import { assert } from "../_assert.ts";
import { BSUINT_VECTORS, bytes, encode, hex, toHex, VECTORS } from "./_helpers.ts";

/** Feeds `chunks` into a receive buffer one by one, decoding after each, as a connection does. */
function decodeChunks(chunks: Uint8Array[], framer = new PacketFramer()): Packet[] {
  const buffer = new ReceiveBuffer({ initialCapacity: 16, minReadSize: 8 });
  const packets: Packet[] = [];
  for (const chunk of chunks) {
    feed(buffer, chunk);
    for (let p = framer.decode(buffer); p; p = framer.decode(buffer)) packets.push(p);
  }
  if (buffer.length > 0) throw new TruncatedFrameError(buffer.length);
  return packets;
}

/** Every chunk size 1..N, then every two-way cut. */
function* splits(input: Uint8Array): Generator<Uint8Array[]> {
  const n = input.byteLength;
  for (let size = 1; size <= n; size++) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < n; i += size) chunks.push(input.slice(i, i + size));
    yield chunks;
  }
  for (let cut = 1; cut < n; cut++) yield [input.slice(0, cut), input.slice(cut)];
}

Deno.test("BSUInt matches every cs.packetstream vector both ways", () => {
  for (const [value, text] of BSUINT_VECTORS) {
    assertEquals(toHex(encodeBSUInt(value)), text, `encode ${value}`);
    assertEquals(
      decodeBSUInt(hex(text)),
      { value, length: hex(text).byteLength },
      `decode ${text}`,
    );
  }
});

for (const vector of VECTORS) {
  Deno.test(`packet vector encodes byte for byte: ${vector.name}`, () => {
    assertEquals(toHex(encode(vector.packet)), toHex(hex(vector.hex)));
  });

  Deno.test(`packet vector decodes in every split: ${vector.name}`, () => {
    for (const chunks of splits(hex(vector.hex))) {
      assertEquals(
        decodeChunks(chunks),
        [vector.packet],
        `split into ${chunks.map((c) => c.byteLength).join("+")}`,
      );
    }
  });
}

Deno.test("all vectors back to back decode in every split, payloads stay valid", () => {
  const stream = hex(VECTORS.map((v) => v.hex).join(" "));
  const expected = VECTORS.map((v) => v.packet);
  for (const chunks of splits(stream)) {
    // Packets are compared after the whole stream went through the buffer, so a payload view
    // that was overwritten by a later read would show.
    assertEquals(decodeChunks(chunks), expected, `split into ${chunks.length} chunks`);
  }
});

Deno.test("decoded packets expose the user values the vectors name", () => {
  const [response] = decodeFrames(new PacketFramer(), hex("05 02 81 0c 03 02"));
  assertEquals([response.ok, response.userFlags, response.flags], [true, 0x11, 0x23]);
  const [failure] = decodeFrames(new PacketFramer(), hex(VECTORS[10].hex));
  assertEquals([failure.ok, failure.userFlags], [false, 0]);
  const [request] = decodeFrames(new PacketFramer(), hex("07 82 2c 07 82 2c 81 48"));
  assertEquals([request.userRqType, request.channel, request.tag, request.flags], [
    199,
    300,
    300,
    1,
  ]);
  assert(Packet.EOF.isEof() && !Packet.EOF.isErq() && Packet.ERQ.isErq());
  assert(!Packet.request(0, 0).isEof(), "a request of user rq_type 0 is wire rq_type 1");
  assert(!new Packet({ tag: 0, isRequest: true, payload: bytes("x") }).isEof());
  assertEquals(
    String(Packet.request(2, 0, { payload: bytes("abc") })),
    "Packet(isRequest=true,channel=0,tag=2,rqType=1,flags=0x0,payload=616263)",
  );
});

Deno.test("an explicit channel 0 and non-minimal varints decode as the original parses them", () => {
  // flags field 0x03 says "has channel", then channel 00; tag as 80 02 (2 in two bytes).
  const [packet] = decodeFrames(new PacketFramer(), hex("05 80 02 03 00 01"));
  assertEquals([packet.tag, packet.channel, packet.isRequest, packet.rqType], [2, 0, true, 1]);
});

Deno.test("decode needs more bytes until the whole packet is there", () => {
  const framer = new PacketFramer();
  const buffer = new ReceiveBuffer();
  buffer.append(hex("81"));
  assertEquals(framer.decode(buffer), undefined);
  buffer.append(hex("4b 02"));
  assertEquals(framer.decode(buffer), undefined);
  assertEquals(buffer.position, 0, "nothing consumed while incomplete");
});

Deno.test("a length over maxPacketSize throws before the body arrives", () => {
  const buffer = new ReceiveBuffer();
  buffer.append(hex("89 c4 da 00"));
  const error = assertThrows(
    () => new PacketFramer().decode(buffer),
    PacketTooLongError,
    "Cannot decode packet: length 20000000 exceeds maxPacketSize 16777216",
  );
  assertEquals([error.length, error.maxLength], [20000000, 16777216]);
  // Detected as soon as the length is known, whatever follows.
  const small = new ReceiveBuffer();
  small.append(hex("88 00"));
  assertThrows(
    () => new PacketFramer({ maxPacketSize: 100 }).decode(small),
    PacketTooLongError,
    "length 1024 exceeds maxPacketSize 100",
  );
});

Deno.test("malformed packets throw PacketError naming the problem", () => {
  const cases: [string, string][] = [
    ["80 80 80 80 80 80 80 80", "the length varint exceeds 8 bytes"],
    ["01 82", "the body ends inside the tag"],
    ["00", "the body ends inside the tag"],
    ["01 02", "the body ends inside the flags"],
    ["02 02 03", "the body ends inside the channel"],
    ["03 02 03 05", "the body ends inside the rq_type"],
    ["03 02 02 82", "the body ends inside the rq_type"],
    ["0a 80 80 80 80 80 80 80 80 80 01", "the tag varint exceeds 8 bytes"],
  ];
  for (const [input, message] of cases) {
    const buffer = new ReceiveBuffer();
    buffer.append(hex(input));
    assertThrows(() => new PacketFramer().decode(buffer), PacketError, message, input);
  }
});

Deno.test("encoding checks every field and the size before writing anything", () => {
  const framer = new PacketFramer({ maxPacketSize: 10 });
  const out = new SendBuffer();
  assertThrows(() => framer.encode(Packet.request(-1, 0), out), RangeError, "tag must be");
  assertThrows(
    () => framer.encode(Packet.request(2, 0, { channel: 1.5 }), out),
    RangeError,
    "channel",
  );
  assertThrows(
    () => framer.encode(Packet.request(2, 0, { flags: 2 ** 52 }), out),
    RangeError,
    "flags",
  );
  assertThrows(
    () => framer.encode(Packet.request(2, 0, { payload: new Uint8Array(8) }), out),
    PacketTooLongError,
    "Cannot encode packet: length 11 exceeds maxPacketSize 10",
  );
  assertEquals(out.length, 0);
  framer.encode(Packet.request(2, 0, { payload: new Uint8Array(7) }), out);
  assertEquals(out.length, 11);
  assertThrows(() => new PacketFramer({ maxPacketSize: -1 }), RangeError, "maxPacketSize");
});

Deno.test("large tags, channels and flags round trip", () => {
  const packets = [
    Packet.request(2 ** 40, 2 ** 35, { channel: 2 ** 45, flags: 2 ** 50 }),
    Packet.response(Number.MAX_SAFE_INTEGER, false, { flags: 2 ** 49 }),
  ];
  const stream = new Uint8Array(packets.flatMap((p) => [...encode(p)]));
  assertEquals(decodeFrames(new PacketFramer(), stream), packets);
});

Deno.test("flags and rq_type decode exactly on both sides of the 31-bit shift path", () => {
  // The wide fields are shifted with `>>>` while they fit 31 bits, with a division beyond: the
  // wire value of a request's flags is flags * 4 + 2, of a response's (flags * 2 + ok) * 4.
  const values = [0, 1, 2 ** 50 - 1];
  for (const bits of [27, 28, 29, 30, 31, 32, 48]) {
    values.push(2 ** bits - 1, 2 ** bits, 2 ** bits + 1);
  }
  const packets: Packet[] = [];
  for (const value of values) {
    packets.push(Packet.request(1, value, { flags: value }));
    if (value < 2 ** 49) {
      packets.push(Packet.response(2, true, { flags: value }));
      packets.push(Packet.response(3, false, { flags: value }));
    }
  }
  const stream = new Uint8Array(packets.flatMap((p) => [...encode(p)]));
  assertEquals(decodeFrames(new PacketFramer(), stream), packets);
});

Deno.test("varint sizes and a packet's fields are exact at every byte boundary", () => {
  // An independent BSUInt: big-endian base-128, in BigInt.
  const reference = (value: number): number[] => {
    const out: number[] = [];
    let v = BigInt(value);
    do {
      out.unshift(Number(v & 0x7fn) | (out.length > 0 ? 0x80 : 0));
      v >>= 7n;
    } while (v > 0n);
    return out;
  };
  const values = [0, Number.MAX_SAFE_INTEGER];
  for (const bits of [7, 14, 21, 28, 31, 32, 35, 42, 49]) {
    values.push(2 ** bits - 1, 2 ** bits, 2 ** bits + 1);
  }
  for (const value of values) {
    const field = reference(value);
    assertEquals(varintLength(value), field.length, `varintLength(${value})`);
    // A request on channel 0 with no flags and no payload: tag, bits 2 (a request), rq_type 1.
    const body = [...field, 2, 1];
    const expected = [...reference(body.length), ...body];
    assertEquals([...encode(Packet.request(value, 0))], expected, `tag ${value}`);
  }
});

Deno.test("a body of exactly maxPacketSize decodes; one byte more is refused", () => {
  const framer = new PacketFramer({ maxPacketSize: 10 });
  const exact = new ReceiveBuffer();
  exact.append(encode(Packet.request(2, 0, { payload: new Uint8Array(7) }))); // body: 10 bytes
  assertEquals(framer.decode(exact)?.payload.byteLength, 7);
  const over = new ReceiveBuffer();
  over.append(encode(Packet.request(2, 0, { payload: new Uint8Array(8) })));
  assertThrows(() => framer.decode(over), PacketTooLongError, "length 11 exceeds maxPacketSize 10");
});

Deno.test("a tag or channel field of 8 bytes decodes; one of 9 is refused", () => {
  // Non-minimal: zero groups, then the value.
  const [tag] = decodeFrames(new PacketFramer(), hex("0a 80 80 80 80 80 80 80 01 02 01"));
  const [channel] = decodeFrames(new PacketFramer(), hex("0b 02 03 80 80 80 80 80 80 80 05 01"));
  assertEquals([tag.tag, channel.channel], [1, 5]);
  const cases: [string, string][] = [
    ["0b 80 80 80 80 80 80 80 80 01 02 01", "the tag varint exceeds 8 bytes"],
    ["0c 02 03 80 80 80 80 80 80 80 80 05 01", "the channel varint exceeds 8 bytes"],
  ];
  for (const [input, message] of cases) {
    const buffer = new ReceiveBuffer();
    buffer.append(hex(input));
    assertThrows(() => new PacketFramer().decode(buffer), PacketError, message, input);
  }
});

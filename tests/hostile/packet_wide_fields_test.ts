/**
 * Issue 10 (cs.packetstream gap): a Python peer's integers are unbounded, so a legal packet may
 * carry rq_type 2^64 or flags 2^60. Such a request is refused with a failure response and the
 * connection goes on; such flags on a response fail just that request. The peer is a separate
 * Python process that speaks the cs.packetstream wire format (BSUInt fields, unbounded).
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { createServer } from "@plexus/net/endpoints";
import { decodeFrames, writeBSUInt } from "@plexus/net/framing";
import { SendBuffer } from "@plexus/net/transport";
import { PacketConnection, PacketError, PacketFramer } from "@plexus/net/packet";

const PEER = `
import socket, sys

def bsuint(n):
    groups = [n & 0x7f]
    n >>= 7
    while n:
        groups.append(0x80 | (n & 0x7f))
        n >>= 7
    return bytes(reversed(groups))

def packet(tag, is_request, flags, payload=b"", rq_type=0):
    body = bsuint(tag) + bsuint((flags << 2) | (2 if is_request else 0))
    if is_request:
        body += bsuint(rq_type)
    body += payload
    return bsuint(len(body)) + body

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
stream = sock.makefile("rb")

def read_bsuint(data, at):
    n = 0
    while True:
        b = data[at]
        at += 1
        n = (n << 7) | (b & 0x7f)
        if b < 0x80:
            return n, at

def read_packet():
    n = 0
    while True:
        b = stream.read(1)[0]
        n = (n << 7) | (b & 0x7f)
        if b < 0x80:
            break
    body = stream.read(n)
    tag, at = read_bsuint(body, 0)
    bits, at = read_bsuint(body, at)
    is_request = bool(bits & 2)
    rq_type = 0
    if is_request:
        rq_type, at = read_bsuint(body, at)
    return tag, is_request, bits >> 2, rq_type, body[at:]

# Our requests: rq_type 2^64, flags 2^60, then an ordinary one (wire rq_type 1 = user 0).
sock.sendall(packet(2, True, 0, b"wide type", rq_type=2**64)
             + packet(3, True, 2**60, b"wide flags", rq_type=1)
             + packet(4, True, 0, b"hi", rq_type=1))
answers = {}
requests = []
while len(answers) < 3 or len(requests) < 2:
    tag, is_request, flags, rq_type, payload = read_packet()
    if is_request:
        requests.append((tag, rq_type))
    else:
        answers[tag] = (flags & 1, payload.decode())
for tag in (2, 3, 4):
    print(tag, *answers[tag], flush=True)
# Answer the requests the Deno side made: the first with flags 2^60 (ok), the second plainly.
(first, _), (second, _) = requests
sock.sendall(packet(first, False, (2**60 << 1) | 1, b"too wide")
             + packet(second, False, (3 << 1) | 1, b"fine"))
sock.sendall(packet(0, True, 0))  # EOF
while read_packet()[:4] != (0, True, 0, 0):
    pass
sock.close()
`;

Deno.test("a Python peer's rq_type 2^64 and flags 2^60 fail just that request, not the connection", async () => {
  const made = Promise.withResolvers<PacketConnection>();
  await using server = await createServer(() => {
    const connection = new PacketConnection({
      requestHandler: (_rqType, _flags, payload) => `got ${new TextDecoder().decode(payload)}`,
    });
    made.resolve(connection);
    return connection;
  }, "127.0.0.1:0");
  const port = (server.addresses[0] as Deno.NetAddr).port;
  const peer = new Deno.Command("python3", {
    args: ["-c", PEER, String(port)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const connection = await made.promise;
  const wide = connection.submit(7, { label: "probe" });
  const plain = connection.submit(8);
  const error = await assertRejects(() => wide, PacketError);
  assertEquals(
    error.message,
    'Request "probe" (rq_type 7, channel 0, tag 2) failed: the response flags ' +
      "(about 1152921504606847000) exceed Number.MAX_SAFE_INTEGER",
  );
  const answer = await plain;
  assertEquals([answer.ok, answer.flags], [true, 3]);
  const output = await peer.output();
  assertEquals(output.success, true);
  assertEquals(new TextDecoder().decode(output.stdout).trim().split("\n"), [
    "2 0 rq_type out of range",
    "3 0 flags out of range",
    "4 1 got hi",
  ]);
  assertEquals(await connection.closed, undefined, "the connection ended in order");
});

Deno.test("a flags field of 256 KiB of 0xff decodes in linear time (no BigInt over all of it)", () => {
  // Legal for an unbounded-integer peer, and a way to stall the event loop if the field were
  // read whole with BigInt (quadratic: about 6 s for this one, minutes for a megabyte).
  const width = 256 * 1024;
  const body = new Uint8Array(1 + width + 2);
  body[0] = 1; // tag
  body.fill(0xff, 1, 1 + width); // flags: continuation bytes ...
  body[1 + width] = 0x7e; // ... ending with the request bit set
  body[2 + width] = 1; // rq_type (the wire's 1: user type 0)
  const out = new SendBuffer();
  writeBSUInt(body.byteLength, out);
  out.write(body);
  const started = performance.now();
  const [packet] = decodeFrames(new PacketFramer(), out.take());
  const elapsed = performance.now() - started;
  assertEquals([packet.isRequest, packet.flags, packet.rqType], [true, Infinity, 1]);
  // Linear takes a few milliseconds; the bound leaves a wide margin for a loaded machine.
  assert(elapsed < 1000, `decoding took ${elapsed.toFixed(0)} ms`);
});

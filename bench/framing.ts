/**
 * Whole-process loopback benchmark of the framing layer against a hand-written parser.
 *
 * Two servers run in this process: ours, a {@linkcode FramedProtocol} with a
 * {@linkcode LengthPrefixedFramer} that echoes each frame with `sendFrame` (pausing its reads
 * while the peer does not keep up), and the baseline, a minimal 4-byte length-prefix parser
 * over `conn.read()` that copies each whole frame into an output buffer and writes it once per
 * read. Each has its own client process, connected for the whole run, that sends frames of a
 * 4-byte big-endian length and a `--payload`-byte body (64 by default), pipelined, and reads
 * the echo back; clients run in their own processes so that the servers have this thread to
 * themselves. The two sides alternate short batches (see `_interleave.ts`), and the ratio
 * printed is ours / hand-written in frames per second (target: 0.8 or more).
 *
 * ```
 * deno run --allow-net --allow-run --allow-read bench/framing.ts [--frames 40000000] [--batches 40]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FramedProtocol, LengthPrefixedFramer } from "@plexus/net/framing";
import { StreamTransport } from "@plexus/net/transport";
import { compare, type Side } from "./_interleave.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    frames: { type: "string", default: "40000000" },
    payload: { type: "string", default: "64" },
    batches: { type: "string", default: "40" },
    client: { type: "string" },
  },
});
const payload = Number(values.payload);
const frameSize = 4 + payload;

/**
 * The client process: connects to `port`, then for each number N read from stdin sends N
 * frames (pipelined), reads their echo and prints "done".
 */
async function client(port: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const perBlock = Math.max(1, Math.floor((256 * 1024) / frameSize));
  const block = new Uint8Array(perBlock * frameSize);
  const view = new DataView(block.buffer);
  for (let i = 0; i < perBlock; i++) {
    view.setUint32(i * frameSize, payload);
    block.fill(i & 0xff, i * frameSize + 4, (i + 1) * frameSize);
  }
  const buffer = new Uint8Array(256 * 1024);
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const text of lines) {
    pending += text;
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const total = Number(pending.slice(0, nl)) * frameSize;
      pending = pending.slice(nl + 1);
      const writing = (async () => {
        for (let sent = 0; sent < total;) {
          const chunk = block.subarray(0, Math.min(block.length, total - sent));
          for (let at = 0; at < chunk.length;) at += await conn.write(chunk.subarray(at));
          sent += chunk.length;
        }
      })();
      for (let received = 0; received < total;) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error(`The echo ended after ${received} of ${total} bytes`);
        received += n;
      }
      await writing;
      await Deno.stdout.write(new TextEncoder().encode("done\n"));
    }
  }
  conn.close();
}

/** Ours: FramedProtocol + LengthPrefixedFramer, echoing each frame through sendFrame. */
function framedServer(conn: Deno.TcpConn): Promise<unknown> {
  conn.setNoDelay(true);
  const framed = new FramedProtocol(new LengthPrefixedFramer(), {
    frameReceived: (frame, f) => f.sendFrame(frame),
    // A well-behaved echo: stop reading while the peer does not keep up with our writes.
    pauseWriting: (f) => f.pauseReading(),
    resumeWriting: (f) => f.resumeReading(),
  });
  return new StreamTransport(conn, framed).closed;
}

/** The baseline: a minimal length-prefix parser over conn.read(). */
async function handWrittenServer(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  let buffer = new Uint8Array(256 * 1024);
  const out = new Uint8Array(256 * 1024);
  let start = 0;
  let end = 0;
  for (;;) {
    if (buffer.length - end < 64 * 1024) {
      const pending = end - start;
      if (pending + 64 * 1024 > buffer.length) {
        const bigger = new Uint8Array(pending + 256 * 1024);
        bigger.set(buffer.subarray(start, end));
        buffer = bigger;
      } else {
        buffer.copyWithin(0, start, end);
      }
      start = 0;
      end = pending;
    }
    const n = await conn.read(buffer.subarray(end, Math.min(buffer.length, end + out.length)));
    if (n === null) break;
    end += n;
    let o = 0;
    while (end - start >= 4) {
      const length = ((buffer[start] << 24) | (buffer[start + 1] << 16) |
        (buffer[start + 2] << 8) | buffer[start + 3]) >>> 0;
      if (end - start < 4 + length) break;
      out.set(buffer.subarray(start, start + 4 + length), o);
      o += 4 + length;
      start += 4 + length;
    }
    for (let at = 0; at < o;) at += await conn.write(out.subarray(at, o));
  }
  conn.close();
}

/** A server of the given kind with its client process, as one side of the comparison. */
async function side(serve: (conn: Deno.TcpConn) => Promise<unknown>): Promise<Side> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      new URL(import.meta.url).pathname,
      "--client",
      String(listener.addr.port),
      "--payload",
      String(payload),
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const serving = serve(await listener.accept());
  listener.close();
  const commands = child.stdin.getWriter();
  const replies = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const nextLine = async (): Promise<string> => {
    while (!pending.includes("\n")) {
      const { value, done } = await replies.read();
      if (done) throw new Error("The client process ended");
      pending += value;
    }
    const line = pending.slice(0, pending.indexOf("\n"));
    pending = pending.slice(line.length + 1);
    return line;
  };
  return {
    async run(n: number): Promise<void> {
      await commands.write(new TextEncoder().encode(`${n}\n`));
      if ((await nextLine()) !== "done") throw new Error("The client process failed");
    },
    async close(): Promise<void> {
      await commands.close();
      await replies.cancel();
      await child.status;
      await serving;
    },
  };
}

if (values.client) {
  await client(Number(values.client));
} else {
  const frames = Number(values.frames);
  const batches = Number(values.batches);
  console.log(
    `framing vs a hand-written parser, loopback, ${frames} frames of 4 + ${payload} bytes, ` +
      `${batches} interleaved batches`,
  );
  const result = await compare(
    await side(handWrittenServer),
    await side(framedServer),
    frames,
    batches,
  );
  const mfps = (v: number): string => (v / 1e6).toFixed(2);
  console.log(
    `echo: hand-written ${mfps(result.raw)} M frames/s   framed ${mfps(result.ours)} M frames/s` +
      `   ratio ${result.ratio.toFixed(3)} (halves ${
        result.halves.map((h) => h.toFixed(2)).join(", ")
      }; target >= 0.8)`,
  );
}

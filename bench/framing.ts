/**
 * Framing benchmark, client and server in separate processes on 127.0.0.1 (see
 * `_harness.ts`): 3 M frames of a 4-byte big-endian length and 64 bytes (`--quick`: 300 000),
 * pipelined by the client and echoed frame by frame by the server. Raw Deno, Plexus framers on
 * both ends and Node `net` take turns.
 *
 * ```
 * deno task bench:framing [--quick] [--rounds 3] [--no-node]
 * ```
 *
 * - raw Deno: both ends parse with byte shifts over one reused read buffer (views only); the
 *   client encodes frames into a reused block, the server copies each read's whole frames into
 *   one reused output buffer and writes it once per read.
 * - Plexus: a `FramedProtocol` with a `LengthPrefixedFramer` on each end; the server echoes
 *   with `sendFrame` inside `frameReceived` and stops reading while its writes back up, the
 *   client sends with `sendFrame` while `pauseWriting` allows. Frames stay valid after
 *   `frameReceived` by default (a fresh receive block per refill); the second Plexus arm sets
 *   `reuseReceiveBuffer` on both ends, as the raw code reuses its read buffer.
 *
 * @module
 */

import { FramedProtocol, LengthPrefixedFramer } from "@plexus/net/framing";
import { StreamTransport } from "@plexus/net/transport";
import {
  arm,
  type Case,
  childArgs,
  clientMain,
  connect,
  type RawConn,
  runCases,
  type RunOptions,
  runOptions,
  serveConnections,
  writeAll,
} from "./_harness.ts";

const MODULE = import.meta.url;
const READ = 64 * 1024;

/** The cases of this family for the given run options. */
export function framingCases(options: RunOptions): Case[] {
  const frames = options.quick ? 300_000 : 3_000_000;
  return [{
    name: "pipelined u32 + 64 B frames",
    params: { frames, warm: frames / 10, payload: 64 },
    units: frames,
    per: { name: "msg", units: 1 },
    mode: "rate",
    rounds: 9, // same-round ratios spread over 0.57–1.10 in one run: see `Case.rounds`
    arms: [
      arm("raw Deno", MODULE, "frames", "raw"),
      arm("Plexus framers", MODULE, "frames", "plexus", "≥ 0.8×"),
      arm("Plexus framers, reused receive buffer", MODULE, "frames", "reuse", "≥ 0.8×"),
      arm("Node net", MODULE, "frames", "node"),
    ],
  }];
}

/** Raw server: parses each read in place, copies its whole frames out, one write per read. */
async function rawServer(): Promise<never> {
  return await serveConnections((conn) => rawEcho(conn));
}

/**
 * The raw echo loop (also `inprocess.ts`'s): reads of up to `readSize` into one reused buffer,
 * each read's whole frames copied into one reused output buffer and written at once.
 */
export async function rawEcho(conn: RawConn, readSize = READ): Promise<void> {
  let buffer = new Uint8Array(2 * readSize);
  const out = new Uint8Array(2 * readSize);
  let start = 0;
  let end = 0;
  for (;;) {
    if (buffer.length - end < readSize) {
      const pending = end - start;
      if (pending + readSize > buffer.length) {
        const bigger = new Uint8Array(pending + 2 * readSize);
        bigger.set(buffer.subarray(start, end));
        buffer = bigger;
      } else {
        buffer.copyWithin(0, start, end);
      }
      start = 0;
      end = pending;
    }
    const n = await conn.read(buffer.subarray(end, end + readSize));
    if (n === null) return;
    end += n;
    let o = 0;
    for (;;) {
      if (end - start < 4) break;
      const size = 4 + ((buffer[start] << 24) | (buffer[start + 1] << 16) |
            (buffer[start + 2] << 8) | buffer[start + 3]) >>> 0;
      if (end - start < size) break;
      out.set(buffer.subarray(start, start + size), o);
      o += size;
      start += size;
    }
    await writeAll(conn, out.subarray(0, o));
  }
}

/** Raw client: a writer encoding frames into a reused block, a reader counting echoed frames. */
function rawClient(port: number, p: Record<string, number>): Promise<never> {
  return clientMain(async () => {
    const conn = await connect(port);
    const payload = new Uint8Array(p.payload).fill(0x61);
    const size = 4 + p.payload;
    const block = new Uint8Array(Math.floor(READ / size) * size);
    const perBlock = block.length / size;
    const buffer = new Uint8Array(READ);
    const write = async (frames: number): Promise<void> => {
      for (let left = frames; left > 0;) {
        const k = Math.min(perBlock, left);
        for (let i = 0, at = 0; i < k; i++, at += size) {
          const length = p.payload;
          block[at] = length >>> 24;
          block[at + 1] = length >>> 16;
          block[at + 2] = length >>> 8;
          block[at + 3] = length;
          block.set(payload, at + 4);
        }
        await writeAll(conn, block.subarray(0, k * size));
        left -= k;
      }
    };
    // Counts frames by their headers; `need` is what remains of the current frame (or header).
    let header = 0;
    let headerBytes = 0;
    let bodyLeft = 0;
    const read = async (frames: number): Promise<void> => {
      let count = 0;
      while (count < frames) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error("The echo ended");
        let i = 0;
        while (i < n) {
          if (bodyLeft > 0) {
            const take = Math.min(bodyLeft, n - i);
            bodyLeft -= take;
            i += take;
            if (bodyLeft === 0) count++;
          } else if (headerBytes === 0 && n - i >= 4) {
            bodyLeft = ((buffer[i] << 24) | (buffer[i + 1] << 16) | (buffer[i + 2] << 8) |
              buffer[i + 3]) >>> 0;
            i += 4;
            if (bodyLeft === 0) count++;
          } else {
            header = (header << 8) | buffer[i++];
            if (++headerBytes === 4) {
              bodyLeft = header >>> 0;
              header = headerBytes = 0;
              if (bodyLeft === 0) count++;
            }
          }
        }
      }
    };
    const run = async (frames: number): Promise<void> => {
      await Promise.all([write(frames), read(frames)]);
    };
    await run(p.warm);
    return () => run(p.frames);
  });
}

/** Plexus server: echoes each frame with sendFrame; stops reading while writes back up. */
async function plexusServer(reuseReceiveBuffer: boolean): Promise<never> {
  return await serveConnections((conn) => {
    new StreamTransport(
      conn,
      new FramedProtocol(new LengthPrefixedFramer(), {
        frameReceived: (frame, f) => f.sendFrame(frame),
        pauseWriting: (f) => f.pauseReading(),
        resumeWriting: (f) => f.resumeReading(),
      }, { reuseReceiveBuffer }),
    );
  });
}

/** Plexus client: sends with sendFrame while writing is not paused; counts echoed frames. */
function plexusClient(
  port: number,
  p: Record<string, number>,
  reuseReceiveBuffer: boolean,
): Promise<never> {
  return clientMain(async () => {
    const payload = new Uint8Array(p.payload).fill(0x61);
    let toSend = 0;
    let toReceive = 0;
    let paused = false;
    let done = Promise.withResolvers<void>();
    const produce = (f: FramedProtocol<Uint8Array>): void => {
      while (!paused && toSend > 0) {
        toSend--;
        f.sendFrame(payload);
      }
    };
    const framed = new FramedProtocol(new LengthPrefixedFramer(), {
      frameReceived: () => {
        if (--toReceive === 0) done.resolve();
      },
      pauseWriting: () => paused = true,
      resumeWriting: (f) => {
        paused = false;
        produce(f);
      },
      connectionLost: (error) => done.reject(error ?? new Error("The echo ended")),
    }, { reuseReceiveBuffer });
    new StreamTransport(await connect(port), framed);
    const run = (frames: number): Promise<void> => {
      toSend = toReceive = frames;
      done = Promise.withResolvers();
      produce(framed);
      return done.promise;
    };
    await run(p.warm);
    return () => run(p.frames);
  });
}

const child = childArgs();
if (child) {
  const { role, impl, params, port } = child;
  const plexus = impl !== "raw";
  const reuse = impl === "reuse";
  await (role === "server"
    ? (plexus ? plexusServer(reuse) : rawServer())
    : (plexus ? plexusClient(port, params, reuse) : rawClient(port, params)));
} else if (import.meta.main) {
  const options = await runOptions(Deno.args);
  await runCases(framingCases(options), options);
}

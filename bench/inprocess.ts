/**
 * The JavaScript cost alone: the pipelined-frames server and packet RPC with both ends in one
 * process, over channels that never touch the kernel, Plexus against the same lean raw code as
 * the whole-process benchmarks. Each arm runs in a fresh process (its own JIT), the arms take
 * turns over the rounds, and the median time per unit and the median same-round ratio are
 * printed. Kernel time, wake-ups and the scheduling of two processes, which make up most of the
 * whole-process cases on loopback, are left out: this is where the library's own work shows.
 *
 * ```
 * deno task bench:inprocess [--rounds 7]
 * ```
 *
 * - echo: a server that echoes 4 M frames of a 4-byte big-endian length and 64 bytes, read in
 *   256 KiB pieces from a channel that copies them from a prepared block; writes are counted,
 *   not copied. Plexus: a `FramedProtocol` echoing with `sendFrame` (frames valid for ever, and
 *   with `reuseReceiveBuffer`); raw: one reused read buffer, each read's whole frames copied
 *   into one reused output buffer, one write per read.
 * - RPC: 1 M requests of 32 bytes, 256 in flight, client and server over a memory channel
 *   pair. Plexus: two `PacketConnection`s; raw: the tagged RPC of `packet.ts`.
 *
 * @module
 */

import { FramedProtocol, LengthPrefixedFramer } from "@plexus/net/framing";
import { PacketConnection } from "@plexus/net/packet";
import { type ByteChannel, createMemoryChannelPair, StreamTransport } from "@plexus/net/transport";
import { median } from "./_harness.ts";
import { rawEcho } from "./framing.ts";
import { rawCaller, serveRawRpc } from "./packet.ts";

const FRAMES = 4_000_000;
const PAYLOAD = 64;
const READ = 256 * 1024;
const REQUESTS = 1_000_000;
const IN_FLIGHT = 256;

interface Arm {
  label: string;
  work: "echo" | "rpc";
  impl: "raw" | "plexus" | "reuse";
}

const ARMS: Arm[][] = [
  [
    { label: "echo: raw", work: "echo", impl: "raw" },
    { label: "echo: Plexus", work: "echo", impl: "plexus" },
    { label: "echo: Plexus, reuseReceiveBuffer", work: "echo", impl: "reuse" },
  ],
  [
    { label: "RPC 256 in flight: raw", work: "rpc", impl: "raw" },
    { label: "RPC 256 in flight: Plexus", work: "rpc", impl: "plexus" },
  ],
];

/** A channel that reads prepared frames in `READ` pieces and counts what is written to it. */
function frameSource(onWritten: (total: number) => void): ByteChannel {
  const size = 4 + PAYLOAD;
  const block = new Uint8Array(Math.floor(READ / size) * size);
  for (let at = 0; at < block.length; at += size) {
    block[at + 3] = PAYLOAD;
    block.fill(0x61, at + 4, at + size);
  }
  let at = 0;
  let read = 0;
  let written = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (read >= FRAMES * size) return new Promise(() => {}); // the run ends on the writes
      const n = Math.min(p.length, READ, block.length - at);
      p.set(block.subarray(at, at + n));
      at = (at + n) % block.length;
      read += n;
      return Promise.resolve(n);
    },
    write(p: Uint8Array): Promise<number> {
      written += p.length;
      onWritten(written);
      return Promise.resolve(p.length);
    },
    closeWrite: () => Promise.resolve(),
    close() {},
  };
}

/** Runs the echo arm; resolves with ns per frame. */
async function echo(impl: Arm["impl"]): Promise<number> {
  const total = FRAMES * (4 + PAYLOAD);
  const done = Promise.withResolvers<void>();
  const channel = frameSource((written) => written >= total && done.resolve());
  const start = performance.now();
  if (impl === "raw") {
    rawEcho(channel, READ);
  } else {
    new StreamTransport(
      channel,
      new FramedProtocol(new LengthPrefixedFramer(), {
        frameReceived: (frame, framed) => framed.sendFrame(frame),
      }, { reuseReceiveBuffer: impl === "reuse" }),
    );
  }
  await done.promise;
  return (performance.now() - start) * 1e6 / FRAMES;
}

/** Runs the RPC arm; resolves with ns per request. */
async function rpc(impl: Arm["impl"]): Promise<number> {
  const [a, b] = createMemoryChannelPair({ capacity: 1 << 20 });
  const payload = new Uint8Array(32).fill(0x61);
  let call: () => Promise<unknown>;
  if (impl === "raw") {
    serveRawRpc(b);
    call = rawCaller(a, payload);
  } else {
    new StreamTransport(b, new PacketConnection({ requestHandler: (_t, _f, p) => p }));
    const client = new PacketConnection({ maxInFlight: IN_FLIGHT });
    new StreamTransport(a, client);
    call = () => client.call(0, payload);
  }
  const drive = async (n: number): Promise<void> => {
    let left = n;
    const worker = async (): Promise<void> => {
      while (left > 0) {
        left--;
        await call();
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  };
  await drive(REQUESTS / 10);
  const start = performance.now();
  await drive(REQUESTS);
  return (performance.now() - start) * 1e6 / REQUESTS;
}

/** Runs one arm in a fresh process; resolves with its time per unit in ns. */
async function runArm(arm: Arm): Promise<number> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "child", arm.work, arm.impl],
    stderr: "inherit",
  }).output();
  const ns = Number(new TextDecoder().decode(output.stdout).trim());
  if (!output.success || !Number.isFinite(ns)) throw new Error(`${arm.label} failed`);
  return ns;
}

if (Deno.args[0] === "child") {
  const [, work, impl] = Deno.args as [string, Arm["work"], Arm["impl"]];
  console.log((work === "echo" ? await echo(impl) : await rpc(impl)).toFixed(2));
  Deno.exit(0);
} else if (import.meta.main) {
  const at = Deno.args.indexOf("--rounds");
  const rounds = at >= 0 ? Number(Deno.args[at + 1]) : 7;
  console.log(
    `Plexus vs raw Deno ${Deno.version.deno}, both ends in one process, ${rounds} rounds`,
  );
  console.log("| arm | median per unit | ratio to raw, median (min–max) |\n| --- | --- | --- |");
  for (const arms of ARMS) {
    const samples: number[][] = arms.map(() => []);
    for (let round = 0; round < rounds; round++) {
      // Every arm goes first in turn.
      for (let k = 0; k < arms.length; k++) {
        const i = (round + k) % arms.length;
        samples[i].push(await runArm(arms[i]));
      }
    }
    const unit = arms[0].work === "echo" ? "frame" : "req";
    arms.forEach((arm, i) => {
      const ratios = samples[i].map((ns, r) => samples[0][r] / ns).sort((x, y) => x - y);
      const ratio = i === 0
        ? "baseline"
        : `${median(ratios).toFixed(2)}× (${ratios[0].toFixed(2)}–${
          ratios[ratios.length - 1].toFixed(2)
        })`;
      console.log(`| ${arm.label} | ${median(samples[i]).toFixed(1)} ns/${unit} | ${ratio} |`);
    });
  }
}

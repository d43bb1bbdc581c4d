/** Drivers for framer tests: feed bytes in any split, with or without switches, and a PRNG. */

export { bytes, concat, hex, prng, text } from "../_shared.ts";
import { feed } from "../_shared.ts";

import { assertEquals } from "@std/assert";
import {
  type Decoder,
  type FramedProtocol,
  ReceiveBuffer,
  TruncatedFrameError,
} from "@plexus/net/framing";
import {
  type ByteChannel,
  createMemoryTransportPair,
  type DeadlineError,
  type Transport,
} from "@plexus/net/transport";

/** The receive framer in force, replaceable from the frame callback (as in FramedProtocol). */
export interface Switchable<T> {
  decoder: Decoder<T>;
}

/**
 * Feeds `chunks` one by one into a receive buffer, decoding after each as the framed core does
 * (until the decoder returns `undefined`), then runs the end-of-stream rules. It holds every
 * decoder to the contract: `undefined` means only "need more bytes", so asking again at once
 * must give `undefined` again. `onFrame` may replace `state.decoder`. Returns the frames.
 */
export function decodeChunks<T>(
  first: Decoder<T>,
  chunks: Iterable<Uint8Array>,
  onFrame?: (frame: T, state: Switchable<T>) => void,
  buffer: ReceiveBuffer = new ReceiveBuffer({ initialCapacity: 64, minReadSize: 16 }),
): T[] {
  const state: Switchable<T> = { decoder: first };
  const frames: T[] = [];
  const drain = (eof: boolean) => {
    for (;;) {
      const decoder = state.decoder;
      const frame = eof && decoder.decodeEof ? decoder.decodeEof(buffer) : decoder.decode(buffer);
      if (frame === undefined) {
        if (!eof) {
          const again = decoder.decode(buffer);
          assertEquals(again, undefined, "decode() returned undefined with a frame buffered");
        }
        return;
      }
      frames.push(frame);
      onFrame?.(frame, state);
    }
  };
  for (const chunk of chunks) {
    // Read into the free tail as the transport does, in pieces when the tail is short.
    feed(buffer, chunk);
    drain(false);
  }
  drain(true);
  if (buffer.length > 0) throw new TruncatedFrameError(buffer.length);
  return frames;
}

/** Every way to cut `input`: all chunk sizes 1..N, then all two-way split points. */
export function* splits(input: Uint8Array): Generator<Uint8Array[]> {
  const n = input.byteLength;
  for (let size = 1; size <= Math.max(1, n); size++) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < n; i += size) chunks.push(input.slice(i, i + size));
    yield chunks;
  }
  for (let cut = 1; cut < n; cut++) yield [input.slice(0, cut), input.slice(cut)];
}

/**
 * Asserts that decoding `input` gives `expected` for every split (frames compared after all
 * input was fed, so a frame overwritten by later reads would fail).
 */
export function assertEverySplit<T>(
  makeDecoder: () => Decoder<T>,
  input: Uint8Array,
  expected: T[],
  onFrame?: (frame: T, state: Switchable<T>) => void,
  normalize: (frames: T[]) => unknown = (f) => f,
): void {
  for (const chunks of splits(input)) {
    const frames = decodeChunks(makeDecoder(), chunks, onFrame);
    assertEquals(
      normalize(frames),
      normalize(expected),
      `split into ${chunks.map((c) => c.byteLength).join("+")}`,
    );
  }
}

/** `n` random bytes from `random`. */
export function randomBytes(random: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** Reads exactly `n` bytes from a raw channel (or fewer at end of stream). */
export async function readExactly(channel: ByteChannel, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await channel.read(out.subarray(at));
    if (got === null) return out.subarray(0, at);
    at += got;
  }
  return out;
}

/**
 * Runs `server` against a peer that writes `first`, then one byte every 30 ms (at most 40:
 * 1.2 s), never finishing a frame, under a `frameTimeout` of 150 ms. Resolves with the limit
 * that cut the server's connection (`"frameTimeout"`), or `"never cut"`.
 */
export async function trickleUntilCut(
  server: FramedProtocol<Uint8Array>,
  first: Uint8Array,
): Promise<string> {
  let client: Transport | undefined;
  const [, clientTransport] = createMemoryTransportPair(server, {
    connectionMade: (t) => client = t,
    dataReceived() {},
  }, { transport: { deadlines: { frameTimeout: 150 } } });
  if (first.byteLength > 0) client!.write(first);
  let sent = 0;
  const { promise: settled, resolve } = Promise.withResolvers<string>();
  const trickle = setInterval(() => {
    if (++sent > 40) {
      clearInterval(trickle);
      resolve("never cut");
      return;
    }
    client!.write(new Uint8Array([0x78]));
  }, 30);
  server.closed.then((error) => {
    clearInterval(trickle);
    resolve((error as DeadlineError | undefined)?.limit ?? String(error));
  });
  const outcome = await settled;
  if (outcome === "never cut") client!.abort();
  await server.closed;
  await clientTransport.closed;
  return outcome;
}

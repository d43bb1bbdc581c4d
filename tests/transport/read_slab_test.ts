import { assertEquals } from "@std/assert";
import { ReadSlab, SLAB_TAIL_MIN } from "../../transport/_read_slab.ts";

/** Reads `sizes` through `slab` (read size `size`), returning the chunks handed out. */
function readAll(slab: ReadSlab, size: number, sizes: number[]): Uint8Array[] {
  return sizes.map((n, i) => {
    const target = slab.target(size);
    const got = Math.min(n, target.byteLength);
    target.fill(i + 1, 0, got);
    slab.took(got);
    return target.subarray(0, got);
  });
}

Deno.test("a large slab's tail is read into down to 16 KiB, not only while it holds half a read", () => {
  const size = 256 * 1024;
  const slab = new ReadSlab(false);
  // 200 KiB leaves 56 KiB (under half a read): read into. 36 KiB there leaves 20 KiB: read
  // into. 10 KiB there leaves 10 KiB, under 16 KiB: the next read gets a new slab.
  const chunks = readAll(slab, size, [200 * 1024, 36 * 1024, 10 * 1024, 10 * 1024]);
  assertEquals(chunks.map((c) => c.byteLength / 1024), [200, 36, 10, 10]);
  const first = chunks.map((c) => chunks.findIndex((d) => d.buffer === c.buffer));
  assertEquals(first, [0, 0, 0, 3], "the 56 and 20 KiB tails were read into, the 10 KiB one not");
  assertEquals(chunks[3].buffer.byteLength, size);
  chunks.forEach((c, i) => assertEquals(c.every((b) => b === i + 1), true, `chunk ${i} intact`));
  assertEquals(SLAB_TAIL_MIN, 16 * 1024);
});

Deno.test("a small slab's tail is read into while it holds half a read", () => {
  // 1 KiB reads of 100 bytes: six fit before the tail (424 bytes) is under half a read; a
  // few hundred bytes are cheaper to drop than a read split in two.
  const slab = new ReadSlab(false);
  const chunks = readAll(slab, 1024, Array(8).fill(100));
  const first = chunks.map((c) => chunks.findIndex((d) => d.buffer === c.buffer));
  assertEquals(first, [0, 0, 0, 0, 0, 0, 6, 6]);
  chunks.forEach((c, i) => assertEquals(c.every((b) => b === i + 1), true, `chunk ${i} intact`));
});

Deno.test("a slab more than four reads large is let go once the read size drops", () => {
  const slab = new ReadSlab(false);
  const [big] = readAll(slab, 256 * 1024, [1000]);
  const [small] = readAll(slab, 1024, [10]);
  assertEquals(small.buffer === big.buffer, false);
  assertEquals(small.buffer.byteLength, 1024);
});

Deno.test("reuseReadBuffer: every read goes into one buffer of the read size", () => {
  const slab = new ReadSlab(true);
  const a = slab.target(1024);
  slab.took(1024);
  const b = slab.target(1024);
  assertEquals(b === a, true);
  const c = slab.target(2048);
  assertEquals(c.byteLength, 2048, "a new read size gets a buffer of that size");
});

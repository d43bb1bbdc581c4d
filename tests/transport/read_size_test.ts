import { assertEquals, assertThrows } from "@std/assert";
import { AdaptiveReadSize, INITIAL_READ_SIZE } from "../../transport/_read_size.ts";

Deno.test("read sizes double on full reads up to the maximum", () => {
  const size = new AdaptiveReadSize(256 * 1024);
  assertEquals(size.next, INITIAL_READ_SIZE);
  const seen = [];
  for (let i = 0; i < 9; i++) {
    seen.push(size.next);
    size.record(size.next, size.next);
  }
  assertEquals(seen, [1, 2, 4, 8, 16, 32, 64, 128, 256].map((k) => k * 1024));
});

Deno.test("read sizes drop back after a burst, so a quiet connection holds a small buffer", () => {
  const size = new AdaptiveReadSize(256 * 1024);
  while (size.next < 256 * 1024) size.record(size.next, size.next);
  size.record(100, size.next);
  assertEquals(size.next, 256 * 1024, "one tiny read is not enough");
  size.record(100, size.next);
  assertEquals(size.next, INITIAL_READ_SIZE);
});

Deno.test("read sizes halve after a run of quarter-full reads, not on one", () => {
  const size = new AdaptiveReadSize(256 * 1024);
  while (size.next < 256 * 1024) size.record(size.next, size.next);
  for (let i = 0; i < 7; i++) size.record(40 * 1024, size.next); // about a sixth full
  assertEquals(size.next, 256 * 1024);
  size.record(40 * 1024, size.next);
  assertEquals(size.next, 128 * 1024);
  size.record(size.next, size.next); // bulk again: back up
  assertEquals(size.next, 256 * 1024);
});

Deno.test("read sizes refuse a bad maximum, and a small maximum caps the start", () => {
  assertThrows(() => new AdaptiveReadSize(0), RangeError, "readSize");
  assertEquals(new AdaptiveReadSize(1000).next, 1000);
});

Deno.test("read sizes stay whole byte counts under a maximum that is not a power of two", () => {
  // readSize 100_000 halves to 50000, 25000, 12500, 6250, 3125, then 1562.5: a hint a receive
  // buffer cannot honour in place (each read then took a new block).
  const size = new AdaptiveReadSize(100_000);
  while (size.next < 100_000) size.record(size.next, size.next);
  const seen = [];
  while (size.next > INITIAL_READ_SIZE) {
    for (let i = 0; i < 8; i++) size.record(Math.floor(size.next / 8), size.next);
    seen.push(size.next);
  }
  assertEquals(seen, [50000, 25000, 12500, 6250, 3125, 1562, 1024]);
});

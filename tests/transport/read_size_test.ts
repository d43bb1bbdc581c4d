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

/** The tag table behind channel 0's request tables: a ring of slots with a Map for collisions. */

import { assertEquals } from "@std/assert";
import { TagTable } from "../../packet/_tag_table.ts";

const item = (tag: number): { tag: number } => ({ tag });

Deno.test("tag table: tags that share a slot go to the overflow and are all found", () => {
  const table = new TagTable<{ tag: number }>(1); // 64 slots
  const a = item(5);
  const b = item(5 + 64);
  const c = item(5 + 128);
  table.set(a.tag, a).set(b.tag, b).set(c.tag, c);
  assertEquals(table.size, 3);
  assertEquals([table.get(5), table.get(69), table.get(133)], [a, b, c]);
  assertEquals(table.get(197), undefined);
  assertEquals(table.delete(5), true);
  assertEquals(table.delete(5), false);
  assertEquals([table.has(5), table.has(69), table.size], [false, true, 2]);
  const d = item(5 + 192);
  table.set(d.tag, d); // the slot is free again
  assertEquals(table.values(), [b, c, d], "in tag order");
  table.clear();
  assertEquals([table.size, table.get(69)], [0, undefined]);
});

Deno.test("tag table: a window of sequential tags stays in the ring as it moves", () => {
  const table = new TagTable<{ tag: number }>(256);
  for (let tag = 0; tag < 100_000; tag++) {
    table.set(tag, item(tag));
    if (tag >= 256) assertEquals(table.delete(tag - 256), true);
  }
  assertEquals(table.size, 256);
  assertEquals(table.values().map((v) => v.tag), Array.from({ length: 256 }, (_, i) => 99_744 + i));
});

Deno.test("setting a tag that overflowed, once its slot is free, leaves one entry", () => {
  const table = new TagTable<{ tag: number; v: string }>(4);
  table.set(1, { tag: 1, v: "a" });
  table.set(5, { tag: 5, v: "old" }); // slot 1 is taken: 5 overflows
  table.delete(1);
  table.set(5, { tag: 5, v: "new" }); // slot 1 is free now
  assertEquals(table.get(5)?.v, "new");
  assertEquals(table.delete(5), true);
  assertEquals(table.get(5), undefined, "no stale overflow entry comes back");
});

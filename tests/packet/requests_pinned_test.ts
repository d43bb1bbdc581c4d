/** The `maxInFlight` waiters of Requests: let in one at a time, in order, never overtaken. */

import { assertEquals } from "@std/assert";
import { Requests } from "../../packet/_requests.ts";
import { PacketWriter } from "../../packet/_writer.ts";

Deno.test("slots freed together let one waiter in at a time, and a new request never overtakes", async () => {
  const requests = new Requests(new PacketWriter(1024, 0), {
    canSend: () => true,
    cancelled: () => {},
  }, 2);
  assertEquals([requests.tryTake(), requests.tryTake(), requests.tryTake()], [true, true, false]);
  const order: string[] = [];
  const a = requests.waitForSlot(undefined).then(() => order.push("a"));
  const b = requests.waitForSlot(undefined).then(() => order.push("b"));
  // Two responses in one read: the first lets `a` in; `b` waits until `a` has sent.
  requests.release();
  requests.release();
  assertEquals(requests.inFlight, 1);
  // A slot is free, but `b` was first: a new request must queue behind it.
  assertEquals(requests.tryTake(), false);
  await a;
  assertEquals(order, ["a"]);
  requests.admitted(); // `a` sent: `b` comes in
  assertEquals(requests.inFlight, 2);
  await b;
  assertEquals(order, ["a", "b"]);
  requests.admitted();
  requests.release();
  requests.release();
  assertEquals(requests.inFlight, 0);
});

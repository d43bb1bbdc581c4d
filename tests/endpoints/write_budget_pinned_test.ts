/**
 * Edges of a server's write budget (`ServerWriteBudget.cut()`) that the transport-level tests in
 * `tests/transport/write_cap_test.ts` do not reach: the exact stopping point, members that
 * leave during a cut, and members whose owner cannot be aborted.
 */

import { assertEquals } from "@std/assert";
import { WriteBufferOverflowError } from "@plexus/net/transport";
import { ServerWriteBudget } from "../../endpoints/_write_budget.ts";
import { WriteFlowControl } from "../../transport/_flow_control.ts";

/** A flow control in `budget` with high watermark 0 (every held byte counts), and its cuts. */
function member(budget: ServerWriteBudget, abort?: (error: Error) => void) {
  const cuts: Error[] = [];
  const flow = new WriteFlowControl({ high: 0 }, {
    budget,
    abort: (error) => {
      cuts.push(error);
      abort ? abort(error) : flow.clear();
    },
  });
  return { flow, cuts };
}

Deno.test("a budget cut stops as soon as the total is back at the limit, not under it", () => {
  const budget = new ServerWriteBudget(500);
  const large = member(budget);
  const medium = member(budget);
  const small = member(budget);
  medium.flow.add(300);
  small.flow.add(200);
  assertEquals(medium.flow.enforceBudget(), undefined, "exactly at the limit: no cut");
  large.flow.add(600);
  assertEquals(large.flow.enforceBudget() instanceof WriteBufferOverflowError, true);
  // Cutting the largest leaves exactly 500: within the budget, so the others stay.
  assertEquals([large.cuts.length, medium.cuts.length, small.cuts.length], [1, 0, 0]);
  assertEquals([budget.total, budget.size], [500, 2]);
});

Deno.test("a member that leaves the budget during an earlier cut is not cut", () => {
  const budget = new ServerWriteBudget(100);
  const medium = member(budget);
  // Cutting the largest drains the medium one out of the budget (its watermark goes up).
  const large = member(budget, () => {
    medium.flow.setLimits({ high: 1_000_000 });
    large.flow.clear();
  });
  const small = member(budget);
  large.flow.add(600);
  medium.flow.add(300);
  small.flow.add(250);
  large.flow.enforceBudget();
  assertEquals(large.cuts.length, 1);
  assertEquals(medium.cuts.length, 0, "it left the budget: nothing of it to cut");
  assertEquals(small.cuts.length, 1, "still over the budget: the next member is cut");
  assertEquals([budget.total, budget.size], [0, 0]);
});

Deno.test("a member whose owner cannot be aborted stops counting when cut", () => {
  const budget = new ServerWriteBudget(500);
  const stuck = member(budget, () => {}); // its abort does nothing
  const other = member(budget);
  other.flow.add(300);
  stuck.flow.add(600);
  stuck.flow.enforceBudget();
  assertEquals(stuck.cuts.length, 1);
  assertEquals(other.cuts.length, 0, "the stuck member's bytes no longer count: 300 is within");
  assertEquals([budget.total, budget.size, stuck.flow.size], [300, 1, 0]);
});

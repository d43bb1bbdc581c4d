/**
 * Every whole-process benchmark in one table: `deno task bench [--quick] [--rounds 3]
 * [--no-node]`. Each case runs raw Deno, Plexus (on both ends) and Node `net`/`dgram` as
 * separate client and server processes on 127.0.0.1, in turns over the rounds, and prints the
 * median of the same-round ratios to raw Deno with the CPU of both processes per unit of work
 * (see `_harness.ts`; the families are `transport.ts`, `framing.ts`, `packet.ts` and
 * `endpoints.ts`).
 *
 * @module
 */

import { clkTck, DEFAULT_ROUNDS, roundsOf, runCases, runOptions } from "./_harness.ts";
import { endpointCases } from "./endpoints.ts";
import { framingCases } from "./framing.ts";
import { packetCases } from "./packet.ts";
import { transportCases } from "./transport.ts";

const options = await runOptions(Deno.args);
const cases = [
  ...transportCases(options),
  ...framingCases(options),
  ...packetCases(options),
  ...endpointCases(options),
];
// The cases that run another number of rounds than the rest, named in the header.
const base = options.rounds ?? DEFAULT_ROUNDS;
const other = cases.filter((c) => roundsOf(c, options) !== base);
const rounds = `${base} rounds${
  other.length ? ` (${other.map((c) => `${roundsOf(c, options)} for "${c.name}"`).join("; ")})` : ""
}`;
const cpus = navigator.hardwareConcurrency;
console.log(
  `Plexus vs raw Deno ${Deno.version.deno}${options.node ? " and Node" : ""}: client and server ` +
    `in separate processes on 127.0.0.1, ${cpus} CPUs, ${rounds} in turns, ` +
    `CPU = user + sys of both (CLK_TCK ${await clkTck()})${options.quick ? ", --quick" : ""}`,
);
const start = performance.now();
await runCases(cases, options);
console.log(`\n(${((performance.now() - start) / 1000).toFixed(0)} s)`);

/**
 * Runs a CLI session over a link that swallows frames, fed by stdin; at the end prints the
 * lines sent and the heap after a collection (run with `--v8-flags=--expose-gc`).
 */
import { type Link, runSession } from "../../cli/_session.ts";
import { parseFramer } from "../../cli/_framer.ts";

const closed = Promise.withResolvers<Error | undefined>();
let lines = 0;
const gc = (globalThis as { gc?: () => void }).gc;
const link: Link = {
  send() {
    lines++;
    return Promise.resolve();
  },
  end() {
    gc?.();
    gc?.();
    console.error(`lines=${lines} heapUsedMB=${(Deno.memoryUsage().heapUsed / 1e6).toFixed(1)}`);
    closed.resolve(undefined);
    return Promise.resolve();
  },
  closed: closed.promise,
  abort() {},
  stats: () => undefined,
};
Deno.exit(await runSession(link, { framer: parseFramer("line"), hex: false }, "probe"));

/**
 * `plexus`: a command-line tool that speaks Plexus's framings and cs.packetstream, for
 * poking servers the way `ncat`, `openssl s_client`, `grpcurl` and `wrk` do — which none of
 * them can for length-prefixed, COBS or netstring frames, tinyproto or packet RPC.
 *
 * ```sh
 * deno run -A jsr:@plexus/net/cli connect 127.0.0.1:7000 --framer len:4be --hex
 * deno task plexus listen 127.0.0.1:7000 --framer netstring
 * deno task plexus rpc 127.0.0.1:7001 call 3 hello
 * deno task plexus rpc 127.0.0.1:7001 serve --echo
 * deno task plexus bench 127.0.0.1:7000 --connections 8 --depth 16 --duration 10s
 * ```
 *
 * Run as a program it reads `Deno.args` and exits with ncat's codes: 0 success, 1 an error
 * (one line on stderr, as `plexus: cannot connect to 127.0.0.1:9: connection refused`),
 * 2 a usage error (its line, then one naming `--help`). Every command has `--help`. UDP needs `--unstable-net` (set in this
 * package's `deno.json`).
 *
 * @example Run a command from code
 * ```ts
 * import { main } from "@plexus/net/cli";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(await main(["bench", "--duration", "1h", "127.0.0.1:1"]), 2); // over the 10 min cap
 * ```
 *
 * @module
 */

import { bench } from "./_bench.ts";
import { connect } from "./_connect.ts";
import { EXIT_USAGE, printError, report } from "./_errors.ts";
import { listen } from "./_listen.ts";
import { rpc } from "./_rpc.ts";

/** The top-level help of `plexus`. */
export const HELP: string = `Usage: plexus COMMAND [options] ...

Commands:
  connect ADDR                      stdin/stdout to a TCP, TLS, Unix or UDP peer, framed
  listen ADDR                       the same for the first peer that connects
  rpc ADDR call RQTYPE [PAYLOAD]    one cs.packetstream request; prints ok/flags/payload
  rpc ADDR serve --echo             a cs.packetstream server that echoes every request
  bench ADDR                        load a framed echo or packet RPC server; latency summary

Run 'plexus COMMAND --help' for a command's options and the framers (line, len:4be,
len:varint, netstring, cobs, tinyproto, ...).

Exit status: 0 success, 1 an error, 2 a usage error (as ncat's).
`;

const COMMANDS: Readonly<Record<string, (args: readonly string[]) => Promise<number>>> = {
  connect,
  listen,
  rpc,
  bench,
};

/**
 * Runs the `plexus` command line and returns its exit code; errors are printed to stderr as
 * one line (a usage error with a second naming `--help`), never thrown.
 *
 * @param args The arguments, without the program name (`Deno.args`).
 * @returns The exit code: 0 success, 1 an error, 2 a usage error.
 *
 * @example Print the help
 * ```ts
 * import { main } from "@plexus/net/cli";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(await main(["--help"]), 0);
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(HELP);
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    printError(`unknown command "${name}"\nTry 'plexus --help'.`);
    return EXIT_USAGE;
  }
  try {
    return await command(rest);
  } catch (error) {
    return report(error, name);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}

/**
 * `plexus rpc ADDR call RQTYPE [PAYLOAD]` and `plexus rpc ADDR serve --echo`: cs.packetstream
 * requests from the shell.
 */

import { createConnection } from "../endpoints/create_connection.ts";
import { createServer, type Server } from "../endpoints/server.ts";
import { formatAddress } from "../endpoints/address.ts";
import { MAX_REQUEST_FLAGS, MAX_RQ_TYPE, PacketConnection } from "../packet/connection.ts";
import { EXTENSION_RQ_TYPE } from "../packet/extension.ts";
import type { PacketResponse } from "../packet/types.ts";
import { hexdump, hexdumpLine } from "../transport/hexdump.ts";
import {
  CliError,
  durationFlag,
  type FlagSpec,
  intFlag,
  parseArgs,
  type ParsedArgs,
  UsageError,
} from "./_args.ts";
import {
  addressHelp,
  parseTarget,
  printErrLine,
  printLine,
  readBytes,
  TLS_CLIENT_HELP,
  TLS_SERVER_HELP,
  TLS_VALUE_FLAGS,
  tlsClientOptions,
  tlsServerOptions,
  writeStdout,
} from "./_common.ts";
import { connectError, listenError, reason } from "./_errors.ts";
import {
  formatPacketStats,
  formatServerStats,
  OBSERVE_HELP,
  OBSERVE_OPTIONALS,
  startTrace,
} from "./_observe.ts";

/** The help of `plexus rpc`. */
export const RPC_HELP = `Usage: plexus rpc [options] ADDR call RQTYPE [PAYLOAD]
       plexus rpc [options] ADDR serve --echo

cs.packetstream packet requests (the wire format of Python's cs.packetstream).

call: sends one request of type RQTYPE and prints the response: a line
"ok flags=F bytes=N" (or "failed ..."), then the payload as text, or as a hexdump with --hex
(or when it is not text). PAYLOAD is the text itself, @FILE for a file's bytes, or - for
stdin; none means an empty payload. Exits with 1 when the response is a failure.

serve: listens on ADDR (port 0 picks one; "plexus: listening on ADDR" goes to stderr) and
answers every request until SIGINT or SIGTERM, then shuts down gracefully. With --echo each
request is answered ok with its own flags and payload; each is printed as one line.

Options:
  --flags N           call: the request's flags, 0 to 2^51-1 (default 0)
  --timeout DURATION  call: give up on the response after this long (default 30s)
  --hex, -x           call: print the payload as a hexdump
  --raw               call: write only the payload bytes to stdout
  --echo              serve: answer each request with its own flags and payload
  -q, --quiet         serve: do not print the requests
  --tls               call: connect with TLS; serve: serve TLS (with --cert, --key)
${
  TLS_CLIENT_HELP.split("\n").slice(1).map((line) =>
    line.startsWith("  --alpn")
      ? "  --alpn P1,P2        call: offer these ALPN protocols; serve: accept them"
      : line
  ).join("\n")
}
${TLS_SERVER_HELP.split("\n").slice(1).filter((line) => !line.startsWith("  --alpn")).join("\n")}
${OBSERVE_HELP}
                      (call: its requests and latency; serve: the server's totals at exit)
  -h, --help          this help

${addressHelp(false)}

Exit status: 0 ok, 1 an error or a failure response, 2 a usage error.
`;

/** The flags of `plexus rpc`. */
export const RPC_FLAGS: FlagSpec = {
  values: ["flags", "timeout", ...TLS_VALUE_FLAGS],
  booleans: ["hex", "raw", "echo", "quiet", "stats", "tls", "insecure", "help"],
  aliases: { "-x": "--hex", "-q": "--quiet", "-h": "--help" },
  optionals: OBSERVE_OPTIONALS,
};

/**
 * Runs `plexus rpc`.
 *
 * @returns The exit code.
 */
export async function rpc(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, RPC_FLAGS);
  if (args.booleans.has("help")) {
    console.log(RPC_HELP);
    return 0;
  }
  const [address, action, ...rest] = args.positionals;
  if (action === "call") return await call(args, address, rest);
  if (action === "serve") {
    if (rest.length > 0) throw new UsageError("serve takes no arguments after it");
    return await serve(args, address);
  }
  throw new UsageError(
    action === undefined ? "missing ADDR and call or serve" : `unknown rpc action "${action}"`,
  );
}

async function call(
  args: ParsedArgs,
  address: string | undefined,
  rest: string[],
): Promise<number> {
  const target = parseTarget(address, false);
  onlyFor("serve", "call", args, ["cert", "key", "echo", "quiet"]);
  if (rest.length === 0) throw new UsageError("missing RQTYPE");
  if (rest.length > 2) throw new UsageError("too many arguments");
  // The limits submit() checks, checked here with the other arguments, before connecting.
  const rqType = rest[0].trim() === "" ? NaN : Number(rest[0]);
  if (!Number.isSafeInteger(rqType) || rqType < 0 || rqType > MAX_RQ_TYPE) {
    throw new UsageError(`RQTYPE must be an integer from 0 to ${MAX_RQ_TYPE}, got "${rest[0]}"`);
  }
  if (rqType === EXTENSION_RQ_TYPE) {
    throw new UsageError(`RQTYPE ${rqType} is reserved for the Plexus extensions`);
  }
  const flags = intFlag(args, "flags", 0, 0, MAX_REQUEST_FLAGS);
  // 0 would time out every call before it could be answered.
  const timeout = durationFlag(args, "timeout", 30_000, 3_600_000, 1);
  const payload = await readPayload(rest[1]);
  const tls = await tlsClientOptions(args);
  using _trace = startTrace(args);
  let connection: PacketConnection;
  try {
    ({ protocol: connection } = await createConnection(
      () => new PacketConnection(),
      target.address,
      {
        tls,
        timeout,
      },
    ));
  } catch (error) {
    throw connectError(target.label, error);
  }
  // The answer is printed as soon as it is here; the close (the peer's EOF, at most
  // closeTimeout) comes after.
  const finish = async (): Promise<void> => {
    await connection.close();
    if (args.booleans.has("stats")) printErrLine(formatPacketStats(connection.stats()));
  };
  let response: PacketResponse;
  try {
    response = await connection.submit(rqType, { flags, payload, timeout });
  } catch (error) {
    connection.abort();
    await finish();
    throw new CliError(`request to ${target.label} failed: ${reason(error)}`, { cause: error });
  }
  try {
    printResponse(response, args);
  } finally {
    await finish();
  }
  return response.ok ? 0 : 1;
}

/** Prints a response: its bytes alone with `--raw`, else the ok line and the payload. */
function printResponse(response: PacketResponse, args: ParsedArgs): void {
  if (args.booleans.has("raw")) {
    writeStdout(response.payload);
    return;
  }
  printLine(
    `${response.ok ? "ok" : "failed"} flags=${response.flags} bytes=${response.payload.byteLength}`,
  );
  printPayload(response.payload, args.booleans.has("hex"));
}

/** PAYLOAD: the text, `@FILE`, `-` for stdin, or none (empty). */
async function readPayload(arg: string | undefined): Promise<Uint8Array> {
  if (arg === undefined) return new Uint8Array();
  if (arg === "-") return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
  if (arg.startsWith("@")) return await readBytes(arg.slice(1), "payload file");
  return new TextEncoder().encode(arg);
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** Prints a payload as text when it is printable UTF-8, else (or with `hex`) as a hexdump. */
function printPayload(payload: Uint8Array, hex: boolean): void {
  if (payload.byteLength === 0) return;
  let text: string | undefined;
  if (!hex) {
    try {
      text = strictDecoder.decode(payload);
      // deno-lint-ignore no-control-regex
      if (/[\x00-\x08\x0e-\x1f\x7f]/.test(text)) text = undefined;
    } catch {
      text = undefined;
    }
  }
  printLine(text === undefined ? hexdump(payload) : text.replace(/\n$/, ""));
}

/** The other action's flags are usage errors, not silently ignored. */
function onlyFor(
  other: string,
  action: string,
  args: ParsedArgs,
  flags: readonly string[],
): void {
  for (const flag of flags) {
    if (args.values.has(flag) || args.booleans.has(flag)) {
      throw new UsageError(`--${flag} is for ${other}, not ${action}`);
    }
  }
}

async function serve(args: ParsedArgs, address: string | undefined): Promise<number> {
  const target = parseTarget(address, false);
  if (!args.booleans.has("echo")) {
    throw new UsageError("serve needs --echo (the only handler the CLI has)");
  }
  onlyFor("call", "serve", args, ["ca", "sni", "insecure", "flags", "timeout", "hex", "raw"]);
  const quiet = args.booleans.has("quiet");
  const tls = await tlsServerOptions(args);
  using _trace = startTrace(args);
  let requests = 0;
  let server: Server<PacketConnection>;
  try {
    server = await createServer(
      () =>
        new PacketConnection({
          requestHandler(rqType, flags, payload) {
            requests++;
            if (!quiet) printLine(`rq_type=${rqType} flags=${flags} ${hexdumpLine(payload)}`);
            return [flags, payload.slice()];
          },
        }),
      target.address,
      { tls, onError: (error) => printErrLine(`plexus: ${reason(error)}`) },
    );
  } catch (error) {
    throw listenError(target.label, error);
  }
  printErrLine(`plexus: listening on ${server.addresses.map(formatAddress).join(", ")}`);
  await server.run();
  if (args.booleans.has("stats")) printErrLine(formatServerStats(server.stats(), requests));
  return 0;
}

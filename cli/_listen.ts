/** `plexus listen ADDR`: wait for one peer and join stdin and stdout to it (ncat `-l`). */

import { createServer, type Server } from "../endpoints/server.ts";
import { createDatagramEndpoint } from "../endpoints/create_datagram_endpoint.ts";
import { formatAddress } from "../endpoints/address.ts";
import type { StreamProtocolLike } from "../transport/protocols.ts";
import { durationFlag, type FlagSpec, parseArgs, UsageError } from "./_args.ts";
import {
  addressHelp,
  framerFlag,
  parseTarget,
  printErrLine,
  TLS_SERVER_HELP,
  TLS_SERVER_VALUE_FLAGS,
  tlsServerOptions,
} from "./_common.ts";
import { listenError, reason } from "./_errors.ts";
import { FRAMER_HELP } from "./_framer.ts";
import { OBSERVE_HELP, OBSERVE_OPTIONALS, startTrace } from "./_observe.ts";
import { type Link, runSession, type SessionOptions, streamLink, udpLink } from "./_session.ts";

/** The help of `plexus listen`. */
export const LISTEN_HELP = `Usage: plexus listen [options] ADDR

Listens on ADDR (port 0 picks a free one), takes the first peer and joins stdin and stdout to
it, as ncat -l does: each line of stdin is one frame to the peer, each frame received is
printed. At the end of stdin the connection is half-closed; when the peer ends its side (closes or
half-closes), plexus exits, as ncat does: stdin not sent by then is dropped.
tinyproto has no half-close: once --wait passes without a message, the connection is closed.
It prints "plexus: listening on ADDR" to stderr once it listens.

Options:
  --framer SPEC       how bytes become frames (default: line)
  --hex, -x           print received frames as hexdumps
  -u, --udp           UDP (no --framer): print datagrams from anyone; stdin lines go to the
                      last sender; after stdin ends, exit once --wait passes without a datagram
  --wait DURATION     UDP and tinyproto: how long to wait after stdin ends (default 1s)
${OBSERVE_HELP}
${TLS_SERVER_HELP}
  -h, --help          this help

${addressHelp(true)}

${FRAMER_HELP}

Exit status: 0 when the connection ended in order, 1 on an error, 2 on a usage error.
`;

/** The flags of `plexus listen`. */
export const LISTEN_FLAGS: FlagSpec = {
  values: ["framer", "wait", ...TLS_SERVER_VALUE_FLAGS],
  booleans: ["hex", "stats", "udp", "tls", "help"],
  aliases: { "-x": "--hex", "-u": "--udp", "-h": "--help" },
  optionals: OBSERVE_OPTIONALS,
};

/** No deadlines: an interactive peer may stay silent as long as it likes. */
const NO_DEADLINES = {
  firstFrameTimeout: Infinity,
  frameTimeout: Infinity,
  requestTimeout: Infinity,
};

/**
 * Runs `plexus listen`.
 *
 * @returns The exit code.
 */
export async function listen(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, LISTEN_FLAGS);
  if (args.booleans.has("help")) {
    console.log(LISTEN_HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError("too many arguments");
  const target = parseTarget(args.positionals[0], args.booleans.has("udp"));
  const framer = framerFlag(args, target);
  const tls = await tlsServerOptions(args);
  const session: SessionOptions = {
    framer,
    hex: args.booleans.has("hex"),
    stats: args.booleans.has("stats"),
    wait: durationFlag(args, "wait", 1000, 3_600_000),
  };
  using _trace = startTrace(args);
  if (target.kind === "udp") {
    if (tls) throw new UsageError("--tls does not work over --udp");
    const { protocol, link, bind } = udpLink(session, session.wait!);
    try {
      const { transport } = await createDatagramEndpoint(() => protocol, {
        localAddress: target.address as string,
      });
      bind(transport);
      printErrLine(
        `plexus: listening on ${
          formatAddress(transport.getExtraInfo("sockname") as Deno.Addr)
        } (udp)`,
      );
    } catch (error) {
      throw listenError(target.label, error);
    }
    return await runSession(link, session, target.label);
  }
  const first = Promise.withResolvers<Link>();
  let taken = false;
  let server: Server<StreamProtocolLike>;
  try {
    server = await createServer<StreamProtocolLike>(
      () => {
        const { protocol, link } = streamLink(session);
        if (!taken) {
          taken = true;
          first.resolve(link);
        }
        return protocol;
      },
      target.address,
      {
        tls,
        deadlines: NO_DEADLINES,
        maxConnections: 1,
        onError: (error) => printErrLine(`plexus: ${reason(error)}`),
      },
    );
  } catch (error) {
    throw listenError(target.label, error);
  }
  printErrLine(`plexus: listening on ${server.addresses.map(formatAddress).join(", ")}`);
  const link = await first.promise;
  await server.close(); // one peer, as ncat -l: no more connections
  const code = await runSession(link, session, target.label);
  await server.shutdown({ timeout: 1000 });
  return code;
}

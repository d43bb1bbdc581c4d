/** `plexus connect ADDR`: stdin and stdout to a peer, through a framer (ncat's client mode). */

import { createConnection } from "../endpoints/create_connection.ts";
import { createDatagramEndpoint } from "../endpoints/create_datagram_endpoint.ts";
import { durationFlag, type FlagSpec, parseArgs, UsageError } from "./_args.ts";
import {
  addressHelp,
  framerFlag,
  parseTarget,
  TLS_CLIENT_HELP,
  TLS_CLIENT_VALUE_FLAGS,
  tlsClientOptions,
} from "./_common.ts";
import { connectError } from "./_errors.ts";
import { FRAMER_HELP } from "./_framer.ts";
import { OBSERVE_HELP, OBSERVE_OPTIONALS, startTrace } from "./_observe.ts";
import { runSession, type SessionOptions, streamLink, udpLink } from "./_session.ts";

/** The help of `plexus connect`. */
export const CONNECT_HELP = `Usage: plexus connect [options] ADDR

Connects to ADDR and joins stdin and stdout to it, as ncat does: each line of stdin is sent as
one frame, each frame received is printed (as text and a newline, as it came for dot and raw,
or as a hexdump with --hex).
At the end of stdin the connection is half-closed; when the peer ends its side (closes or
half-closes), plexus exits, as ncat does: stdin not sent by then is dropped.
tinyproto has no half-close: once --wait passes without a message, the connection is closed.

Options:
  --framer SPEC       how bytes become frames (default: line)
  --hex, -x           print received frames as hexdumps
  -u, --udp           UDP: each line one datagram (no --framer); after stdin ends, exit once
                      --wait passes without a datagram
  --wait DURATION     UDP and tinyproto: how long to wait for replies after stdin ends (1s)
  --timeout DURATION  give up connecting after this long (default 30s)
  --starttls LINE     SMTP-style STARTTLS: the peer speaks first, and until TLS is up each
                      line waits for the reply to the one before ("250-" lines continue a
                      reply); the reply to LINE (say STARTTLS) is the go-ahead, then TLS
                      starts (with --ca, --sni, ... below)
${OBSERVE_HELP}
${TLS_CLIENT_HELP}
  -h, --help          this help

${addressHelp(true)}

${FRAMER_HELP}

Exit status: 0 when the connection ended in order, 1 on an error, 2 on a usage error.
`;

/** The flags of `plexus connect`. */
export const CONNECT_FLAGS: FlagSpec = {
  values: ["framer", "wait", "timeout", "starttls", ...TLS_CLIENT_VALUE_FLAGS],
  booleans: ["hex", "stats", "udp", "tls", "insecure", "help"],
  aliases: { "-x": "--hex", "-u": "--udp", "-h": "--help" },
  optionals: OBSERVE_OPTIONALS,
};

/**
 * Runs `plexus connect`.
 *
 * @returns The exit code.
 */
export async function connect(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, CONNECT_FLAGS);
  if (args.booleans.has("help")) {
    console.log(CONNECT_HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError("too many arguments");
  const target = parseTarget(args.positionals[0], args.booleans.has("udp"));
  const framer = framerFlag(args, target);
  // 0 would time out every connection before it could be made.
  const timeout = durationFlag(args, "timeout", 30_000, 3_600_000, 1);
  const tls = await tlsClientOptions(args);
  const starttls = args.values.get("starttls");
  if (starttls !== undefined && args.booleans.has("tls")) {
    throw new UsageError("use --tls or --starttls, not both");
  }
  if (starttls !== undefined && framer.kind === "tinyproto") {
    throw new UsageError("--starttls needs a framer other than tinyproto");
  }
  const session: SessionOptions = {
    framer,
    hex: args.booleans.has("hex"),
    starttls: starttls === undefined ? undefined : { line: starttls, tls: tls ?? {} },
    stats: args.booleans.has("stats"),
    wait: durationFlag(args, "wait", 1000, 3_600_000),
  };
  using _trace = startTrace(args);
  if (target.kind === "udp") {
    if (tls) throw new UsageError("--tls and --starttls do not work over --udp");
    const { protocol, link, bind } = udpLink(session, session.wait!);
    try {
      const { transport } = await createDatagramEndpoint(() => protocol, {
        remoteAddress: target.address as string,
      });
      bind(transport);
    } catch (error) {
      throw connectError(target.label, error);
    }
    return await runSession(link, session, target.label);
  }
  const { protocol, link } = streamLink(session);
  try {
    await createConnection(() => protocol, target.address, {
      tls: starttls === undefined ? tls : undefined,
      timeout,
    });
  } catch (error) {
    throw connectError(target.label, error);
  }
  return await runSession(link, session, target.label);
}

/**
 * A packet peer on this process's stdin and stdout, for a parent process to talk to (the
 * packet tests spawn it with piped stdio):
 *
 * - rq_type 0: answers the payload upper-cased;
 * - rq_type 1: asks the parent back (rq_type 0 with payload "from the child") and answers
 *   with what the parent said, so requests flow both ways;
 * - anything else: "no such rq_type" with flags 1.
 *
 * It closes in order when the parent does, then exits. Run it as
 * `deno run examples/packet_peer.ts`.
 */

import { PacketConnection, RemoteError } from "@plexus/net/packet";

const text = new TextDecoder();

const connection = PacketConnection.fromStreams(
  { readable: Deno.stdin.readable, writable: Deno.stdout.writable },
  {
    closeStreams: true, // stdin and stdout are ours to close: the process ends with them
    requestHandler: async (rqType, _flags, payload, { connection }) => {
      if (rqType === 0) return text.decode(payload).toUpperCase();
      if (rqType === 1) {
        const answer = await connection.call(0, "from the child");
        return `parent said: ${text.decode(answer)}`;
      }
      throw new RemoteError(1, "no such rq_type");
    },
  },
);

const error = await connection.closed;
if (error) {
  console.error(`packet peer: ${error.message}`);
  Deno.exitCode = 1;
}

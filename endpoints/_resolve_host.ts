import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { describeError, TransportError } from "../transport/errors.ts";

/**
 * Resolves a host name to one IP address, once (an IP address is returned as it is): what a
 * socket binds or sends to.
 *
 * @throws {TransportError} When the name does not resolve, naming it.
 */
export async function resolveHost(hostname: string): Promise<string> {
  if (isIP(hostname) !== 0) return hostname;
  try {
    return (await lookup(hostname)).address;
  } catch (error) {
    throw new TransportError(`Cannot resolve ${hostname}: ${describeError(error)}`, {
      cause: error,
    });
  }
}

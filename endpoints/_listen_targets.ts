/**
 * Where a server listens for an address given by name: every address the name resolves to,
 * on one port (asyncio's and gruvi's `create_server`: `"localhost:0"` listens on 127.0.0.1
 * and ::1 where both are localhost).
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { describeError, TransportError } from "../transport/errors.ts";
import { formatAddress, type ParsedAddress } from "./address.ts";

/** Resolves a host name to every address it has (getaddrinfo, as asyncio does). */
export type LookupAll = (hostname: string) => Promise<string[]>;

const lookupAll: LookupAll = async (hostname) =>
  (await lookup(hostname, { all: true })).map((entry) => entry.address);

/**
 * The listen targets for one parsed address: itself for a Unix path or an IP literal, else one
 * per address the name resolves to (duplicates dropped, the resolver's order kept).
 *
 * @throws {TransportError} When the name does not resolve.
 */
export async function listenTargets(
  target: ParsedAddress,
  resolve: LookupAll = lookupAll,
): Promise<ParsedAddress[]> {
  if (target.transport === "unix" || isIP(target.hostname) !== 0) return [target];
  let addresses: string[];
  try {
    addresses = [...new Set(await resolve(target.hostname))];
  } catch (error) {
    throw new TransportError(
      `Cannot listen on ${formatAddress(target)}: cannot resolve ${target.hostname}: ${
        describeError(error)
      }`,
      { cause: error },
    );
  }
  if (addresses.length === 0) {
    throw new TransportError(
      `Cannot listen on ${formatAddress(target)}: ${target.hostname} has no address`,
    );
  }
  return addresses.map((hostname) => ({ transport: "tcp", hostname, port: target.port }));
}

/**
 * Opens one listener per target, all on one port: with port 0, the first listener picks it and
 * the others take the same. A target whose address this host does not have
 * (`EADDRNOTAVAIL`: `::1` from `/etc/hosts` where IPv6 is off) is skipped, as asyncio skips
 * it, as long as another target opens. If any other open fails, the ones opened are closed and
 * the error is thrown.
 */
export function openOnOnePort(
  targets: ParsedAddress[],
  open: (target: ParsedAddress) => Deno.Listener,
): Deno.Listener[] {
  const opened: Deno.Listener[] = [];
  let unavailable: unknown;
  try {
    let port: number | undefined;
    for (const target of targets) {
      let listener: Deno.Listener;
      try {
        listener = open(
          target.transport === "tcp" && port !== undefined ? { ...target, port } : target,
        );
      } catch (error) {
        if (!isAddrNotAvailable(error)) throw error;
        unavailable ??= error;
        continue;
      }
      opened.push(listener);
      if (listener.addr.transport === "tcp") port ??= listener.addr.port;
    }
  } catch (error) {
    for (const listener of opened) listener.close();
    throw error;
  }
  if (opened.length === 0 && unavailable !== undefined) throw unavailable;
  return opened;
}

/** Whether `error` (or the error it wraps) is `EADDRNOTAVAIL`. */
function isAddrNotAvailable(error: unknown): boolean {
  return error instanceof Deno.errors.AddrNotAvailable ||
    (error instanceof Error && error.cause instanceof Deno.errors.AddrNotAvailable);
}

import { isIP } from "node:net";

/** A TCP or UDP address: a hostname (or IP literal) and a port. */
export interface HostPort {
  /**
   * A hostname or IP literal (IPv6 with or without brackets).
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** The port, 0..65535 (0 asks the OS for a free port when listening). */
  port: number;
}

/** A Unix domain socket address. */
export interface UnixPath {
  /** The socket's path in the file system. */
  path: string;
}

/**
 * An address to connect to or listen on: `"host:port"`, `"[::1]:port"`, a
 * {@linkcode HostPort} or a {@linkcode UnixPath}.
 */
export type Address = string | HostPort | UnixPath;

/** An address after parsing: what `Deno.connect` / `Deno.listen` take. */
export type ParsedAddress =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/**
 * Parses an address. IPv6 literals lose their brackets; the hostname defaults to `127.0.0.1`.
 *
 * @param address The address in any accepted form.
 * @returns The transport and where it points.
 * @throws {TypeError} When the address has no port, an unbracketed IPv6 literal, or a port
 * outside 0..65535; the message names the address.
 *
 * @example Parse the accepted forms
 * ```ts
 * import { parseAddress } from "@plexus/net/endpoints";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(parseAddress("localhost:8080"), {
 *   transport: "tcp",
 *   hostname: "localhost",
 *   port: 8080,
 * });
 * assertEquals(parseAddress("[::1]:53"), { transport: "tcp", hostname: "::1", port: 53 });
 * assertEquals(parseAddress({ path: "/tmp/app.sock" }), {
 *   transport: "unix",
 *   path: "/tmp/app.sock",
 * });
 * assertThrows(() => parseAddress("::1:53"), TypeError, "brackets");
 * ```
 */
export function parseAddress(address: Address): ParsedAddress {
  // Described (JSON) only for an error message: a dial per connection should not pay for it.
  if (typeof address === "object" && address !== null) {
    if ("path" in address && typeof address.path === "string" && address.path !== "") {
      return { transport: "unix", path: address.path };
    }
    if ("port" in address) {
      return {
        transport: "tcp",
        hostname: checkHost(unbracket(address.hostname ?? "127.0.0.1"), address),
        port: checkPort(address.port, address),
      };
    }
  }
  if (typeof address !== "string") {
    throw invalid(address, `expected "host:port", { hostname, port } or { path }`);
  }
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(address);
  if (bracketed) {
    return {
      transport: "tcp",
      hostname: checkHost(bracketed[1], address),
      port: checkPort(+bracketed[2], address),
    };
  }
  const colon = address.lastIndexOf(":");
  if (colon < 0 || !/^\d+$/.test(address.slice(colon + 1))) {
    throw invalid(address, `expected "host:port" or "[v6]:port"`);
  }
  const hostname = address.slice(0, colon);
  if (hostname.includes(":") && !/[\[\]]/.test(hostname)) {
    // "::1" splits as ":" and port 1: the literal is then the whole address.
    const literal = isIP(hostname) === 0 && isIP(address) === 6 ? address : hostname;
    throw invalid(address, `put an IPv6 literal in brackets, as "[${literal}]:port"`);
  }
  return {
    transport: "tcp",
    hostname: hostname === "" ? "127.0.0.1" : checkHost(hostname, address),
    port: checkPort(+address.slice(colon + 1), address),
  };
}

/**
 * Formats an address for messages: `host:port`, `[v6]:port` or the Unix path.
 *
 * @example Format addresses
 * ```ts
 * import { formatAddress } from "@plexus/net/endpoints";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(formatAddress({ transport: "tcp", hostname: "::1", port: 80 }), "[::1]:80");
 * assertEquals(formatAddress({ transport: "unix", path: "/run/app.sock" }), "/run/app.sock");
 * ```
 */
export function formatAddress(address: ParsedAddress | Deno.Addr): string {
  if ("path" in address) return address.path ?? "(unnamed unix socket)";
  if ("hostname" in address) {
    const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
    return `${host}:${address.port}`;
  }
  return JSON.stringify(address);
}

function unbracket(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

/** The error for a malformed `address`, saying `why`. */
function invalid(address: unknown, why: string): TypeError {
  return new TypeError(`Invalid address ${describe(address)}: ${why}`);
}

/** An address as it appears in messages: JSON, so strings are quoted and objects readable. */
function describe(address: unknown): string {
  try {
    return JSON.stringify(address) ?? String(address);
  } catch {
    return String(address);
  }
}

/** Refuses host names no resolver would take: empty, spaces, stray brackets or colons. */
function checkHost(hostname: unknown, address: unknown): string {
  if (
    typeof hostname !== "string" || hostname === "" || /[\s\[\]]/.test(hostname) ||
    (hostname.includes(":") && isIP(hostname) !== 6)
  ) {
    throw invalid(address, `${JSON.stringify(hostname)} is not a host`);
  }
  return hostname;
}

function checkPort(port: unknown, address: unknown): number {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalid(address, `port ${JSON.stringify(port)} is not an integer in 0..65535`);
  }
  return port;
}

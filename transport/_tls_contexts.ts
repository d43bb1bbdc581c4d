/**
 * Server-side `node:tls` secure contexts, made once per certificate and reused by every
 * handshake (parsing a PEM key per connection would cost more than the handshake), and the
 * SNI callback that picks one by the name the client sent.
 *
 * @module
 */

import { createSecureContext, type SecureContext } from "node:tls";
import type { TlsCertificate, TlsServerOptions } from "./tls_options.ts";

/** Contexts kept for certificates seen most recently; older ones are made again on use. */
const CACHE_SIZE = 64;
const cache = new Map<string, SecureContext>();

/** The secure context of a certificate and key, made on first use and cached. */
export function secureContextFor({ cert, key }: TlsCertificate): SecureContext {
  const id = `${cert}\0${key}`;
  let context = cache.get(id);
  if (context === undefined) {
    context = createSecureContext({ cert, key });
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  } else {
    cache.delete(id); // Re-inserted below: the most recently used go last.
  }
  cache.set(id, context);
  return context;
}

/** The `sni` records seen, with their names lowercased: built once per record. */
const namesOf = new WeakMap<Record<string, TlsCertificate>, Map<string, TlsCertificate>>();

/** What `node:tls` calls with the client's SNI name to choose a context. */
export type SniCallback = (
  serverName: string,
  callback: (error: Error | null, context?: SecureContext) => void,
) => void;

/**
 * An SNI callback serving `options.sni[name]` (exact names without case, then a `*.` wildcard
 * for the first label) and the default certificate otherwise; `undefined` without `sni`.
 */
export function sniCallback(options: TlsServerOptions): SniCallback | undefined {
  const sni = options.sni;
  if (sni === undefined) return undefined;
  let byName = namesOf.get(sni);
  if (byName === undefined) {
    byName = new Map();
    for (const [name, certificate] of Object.entries(sni)) {
      byName.set(name.toLowerCase(), certificate);
    }
    namesOf.set(sni, byName);
  }
  return (serverName, callback) => {
    const name = serverName.toLowerCase();
    const dot = name.indexOf(".");
    const match = byName!.get(name) ?? (dot > 0 ? byName!.get(`*${name.slice(dot)}`) : undefined);
    try {
      callback(null, secureContextFor(match ?? options));
    } catch (error) {
      callback(error as Error);
    }
  };
}

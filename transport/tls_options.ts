/** Options for the client side of a TLS connection or upgrade. */
export interface TlsClientOptions {
  /**
   * The name to verify the server certificate against (and send as SNI).
   *
   * @default {the hostname connected to}
   */
  serverHostname?: string;
  /**
   * PEM root certificates trusted in addition to the system's. Over a channel that is not a
   * TCP conn (a Unix socket, say) the handshake runs through `node:tls`, which reads the system
   * store for this: grant `--allow-sys` (Deno asks for its "ca" part).
   */
  caCerts?: string[];
  /** ALPN protocols to offer, most preferred first. */
  alpnProtocols?: string[];
  /**
   * Milliseconds the handshake may take (asyncio's default is 60 s). Over a TCP conn the
   * handshake runs through `Deno.startTls`: when it times out (or is aborted) the connection
   * fails at once, but its socket is released only when the server answers or closes it.
   *
   * @default {60000}
   */
  handshakeTimeout?: number;
  /**
   * Accepts any certificate name. Only for tests: it defeats the point of TLS.
   *
   * @default {false}
   */
  unsafelyDisableHostnameVerification?: boolean;
}

/** A PEM certificate chain (leaf first) and the private key of its leaf. */
export interface TlsCertificate {
  /** The PEM certificate chain, leaf first. */
  cert: string;
  /** The PEM private key of the leaf certificate. */
  key: string;
}

/** Options for the server side of a TLS listener or upgrade. */
export interface TlsServerOptions {
  /** The PEM certificate chain, leaf first: served when no `sni` entry matches. */
  cert: string;
  /** The PEM private key of the leaf certificate. */
  key: string;
  /**
   * A certificate per server name, chosen by the name the client sends (SNI): keys are exact
   * names (`"api.example.com"`, compared without case) or wildcards for one label
   * (`"*.example.com"`). A client that sends no name, or a name without an entry, gets
   * `cert`. The name the client sent is `getExtraInfo("serverName")`.
   *
   * @default {no per-name certificates}
   */
  sni?: Record<string, TlsCertificate>;
  /** ALPN protocols to accept, most preferred first. */
  alpnProtocols?: string[];
  /**
   * Milliseconds the handshake may take (asyncio's default is 60 s).
   *
   * @default {60000}
   */
  handshakeTimeout?: number;
}

/**
 * Options of {@linkcode StreamTransport.startTls} for the server side of an upgrade.
 *
 * @example Upgrade an accepted connection
 * ```ts
 * import type { StartTlsServerOptions } from "@plexus/net/transport";
 *
 * const options: StartTlsServerOptions = { serverSide: true, cert: "...", key: "..." };
 * ```
 */
export interface StartTlsServerOptions extends TlsServerOptions {
  /** Selects the server side of the handshake. */
  serverSide: true;
}

/** Options of {@linkcode StreamTransport.startTls}: the client side unless `serverSide` is set. */
export type StartTlsOptions = (TlsClientOptions & { serverSide?: false }) | StartTlsServerOptions;

/** asyncio's default TLS handshake timeout: 60 seconds. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 60_000;

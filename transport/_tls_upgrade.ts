/**
 * TLS handshakes over an open byte channel: the client side through `Deno.startTls` (or
 * `node:tls` when the channel is not a TCP conn), the server side through `node:tls`, since
 * Deno has no server-side `startTls`.
 *
 * @module
 */

import { isIP } from "node:net";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { connect as nodeTlsConnect, rootCertificates, TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import { TlsHandshakeTimeoutError } from "./tls_errors.ts";
import { formatPeer } from "./callback_error.ts";
import { secureContextFor, sniCallback } from "./_tls_contexts.ts";
import { type ByteChannel, isTcpConn } from "./byte_channel.ts";
import { linkCancellation } from "./_cancellation.ts";
import { TransportError, transportError } from "./errors.ts";
import { channelToDuplex, NodeStreamChannel } from "./_node_channel.ts";
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  type TlsCertificate,
  type TlsClientOptions,
  type TlsServerOptions,
} from "./tls_options.ts";

/** A finished handshake: the encrypted channel and what was negotiated. */
export interface TlsUpgrade {
  /** The encrypted channel; the plaintext one must no longer be used. */
  channel: ByteChannel;
  /** The negotiated ALPN protocol, or `null`. */
  alpnProtocol: string | null;
  /** The negotiated TLS version (`"TLSv1.3"`), when the engine reports it. */
  tlsVersion?: string;
  /** Server side: the name the client sent (SNI), or `null` when it sent none. */
  serverName?: string | null;
}

/** Options of a client handshake: the client options plus the name to verify. */
export interface ClientHandshakeOptions extends TlsClientOptions {
  /** The name verified and sent as SNI. */
  serverHostname: string;
  /** Aborts the handshake (the channel is closed). */
  signal?: AbortSignal;
}

/**
 * Settles as the handshake does, or rejects on abort (with the signal's reason) or on timeout
 * (with a {@linkcode TlsHandshakeTimeoutError}).
 */
async function bounded<T>(
  handshake: Promise<T>,
  timeout: number,
  signal: AbortSignal | undefined,
  peer: string | undefined,
): Promise<T> {
  const cancel = linkCancellation(signal, undefined, "");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = Number.isFinite(timeout)
    ? new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TlsHandshakeTimeoutError(timeout, { peer })), timeout);
    })
    : undefined;
  try {
    const settled = cancel.race(handshake);
    return await (expired ? Promise.race([settled, expired]) : settled);
  } finally {
    clearTimeout(timer);
    cancel.dispose();
  }
}

/**
 * Runs the client side of a TLS handshake over `channel` and returns the encrypted channel.
 * On failure the channel is closed and a {@linkcode TransportError} says why (for example
 * `certificate not valid for name "wrong.example"`). On a TCP conn (`Deno.startTls`), a
 * handshake given up (timeout, abort) rejects at once, but the socket stays open until the peer
 * answers or closes: `Deno.startTls`'s handshake task owns it. `node:tls` would release it, but
 * measured 0.6–0.75x in bulk (bench/tls.ts --clients), so TCP keeps `Deno.startTls`.
 */
export async function startTlsClient(
  channel: ByteChannel,
  options: ClientHandshakeOptions,
): Promise<TlsUpgrade> {
  const timeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  if (!isTcpConn(channel)) return await nodeClientHandshake(channel, options, timeout);
  let tlsConn: Deno.TlsConn;
  try {
    tlsConn = await Deno.startTls(channel, {
      hostname: options.serverHostname,
      caCerts: options.caCerts,
      alpnProtocols: options.alpnProtocols,
      unsafelyDisableHostnameVerification: options.unsafelyDisableHostnameVerification,
    });
  } catch (error) {
    try {
      channel.close(); // refused (an invalid name, say) without being taken over
    } catch {
      // Consumed after all.
    }
    throw transportError("TLS handshake failed", error);
  }
  const handshake = tlsConn.handshake();
  try {
    const info = await bounded(handshake, timeout, options.signal, formatPeer(channel.remoteAddr));
    return { channel: tlsConn, alpnProtocol: info.alpnProtocol };
  } catch (error) {
    tlsConn.close();
    await handshake.catch(() => {});
    throw transportError("TLS handshake failed", error);
  }
}

/**
 * Runs the server side of a TLS handshake over `channel` through `node:tls` and returns the
 * encrypted channel, with the certificate `options.sni` gives the client's server name (or the
 * default one). On failure — a {@linkcode TlsHandshakeTimeoutError} after `handshakeTimeout`,
 * an abort, a bad ClientHello — the channel is closed at once, releasing its socket.
 */
export async function startTlsServer(
  channel: ByteChannel,
  options: TlsServerOptions & { signal?: AbortSignal },
): Promise<TlsUpgrade> {
  const timeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  const inner = channelToDuplex(channel);
  let socket: TLSSocket;
  try {
    socket = new TLSSocket(inner, {
      isServer: true,
      secureContext: secureContextFor(options),
      SNICallback: sniCallback(options),
      ALPNProtocols: options.alpnProtocols,
    });
  } catch (error) {
    inner.destroy();
    throw transportError("TLS handshake failed", error);
  }
  const peer = formatPeer(channel.remoteAddr);
  return await settleNodeHandshake(socket, inner, channel, "secure", timeout, options.signal, peer);
}

async function nodeClientHandshake(
  channel: ByteChannel,
  options: ClientHandshakeOptions,
  timeout: number,
): Promise<TlsUpgrade> {
  const inner = channelToDuplex(channel);
  const name = options.serverHostname;
  const socket = nodeTlsConnect({
    socket: inner,
    host: name,
    servername: isIP(name) ? undefined : name,
    ca: options.caCerts ? [...rootCertificates, ...options.caCerts] : undefined,
    ALPNProtocols: options.alpnProtocols,
    ...(options.unsafelyDisableHostnameVerification
      ? { checkServerIdentity: () => undefined }
      : {}),
  });
  const peer = formatPeer(channel.remoteAddr);
  return await settleNodeHandshake(
    socket,
    inner,
    channel,
    "secureConnect",
    timeout,
    options.signal,
    peer,
  );
}

async function settleNodeHandshake(
  socket: TLSSocket,
  inner: Duplex,
  under: ByteChannel,
  event: "secure" | "secureConnect",
  timeout: number,
  signal: AbortSignal | undefined,
  peer: string | undefined,
): Promise<TlsUpgrade> {
  const channel = new NodeStreamChannel(socket, [inner], under);
  const secured = new Promise<void>((resolve, reject) => {
    const settle = (error?: Error): void => {
      socket.off(event, onSecure);
      socket.off("error", settle);
      socket.off("end", onClosed);
      socket.off("close", onClosed);
      inner.off("error", onInnerError);
      if (error) reject(error);
      else resolve();
    };
    const onSecure = (): void => settle();
    // A reset under the handshake fails the channel below, while the TLS socket above only
    // ends: the reset is what ended it (a "reset" close, as after the handshake).
    let innerError: Error | undefined;
    const onInnerError = (error: Error): void => void (innerError ??= error);
    inner.on("error", onInnerError);
    // Under Deno, a peer that hangs up mid-handshake may only end the stream.
    const onClosed = (): void =>
      settle(
        innerError ??
          new TransportError("Connection closed by the peer during the TLS handshake"),
      );
    socket.once(event, onSecure);
    socket.once("error", settle);
    socket.once("end", onClosed);
    socket.once("close", onClosed);
  });
  try {
    await bounded(secured, timeout, signal, peer);
  } catch (error) {
    // At once: a silent peer's socket must not wait for a close_notify it would never read.
    channel.abort();
    await channel.closed;
    throw transportError("TLS handshake failed", error);
  }
  const servername = (socket as { servername?: string | false | null }).servername;
  return {
    channel,
    alpnProtocol: socket.alpnProtocol || null,
    tlsVersion: socket.getProtocol() ?? undefined,
    ...(event === "secure" ? { serverName: servername || null } : {}),
  };
}

/**
 * Parses the certificates of `options` now (the default one and every `sni` one) and checks
 * that each key belongs to its certificate, so a listener fails at once on a bad certificate
 * or key rather than on every handshake.
 *
 * @throws {TransportError} Naming the certificate that could not be loaded.
 */
export function checkTlsServerOptions(options: TlsServerOptions): void {
  const certificates: [string, TlsCertificate][] = [
    ["the default certificate", options],
    ...Object.entries(options.sni ?? {}).map(([name, certificate]): [string, TlsCertificate] => [
      `the certificate for "${name}"`,
      certificate,
    ]),
  ];
  for (const [what, { cert, key }] of certificates) {
    let matches: boolean;
    try {
      matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
    } catch (error) {
      throw transportError(`Cannot load ${what}`, error);
    }
    if (!matches) throw new TransportError(`Cannot load ${what}: the key does not match it`);
  }
}

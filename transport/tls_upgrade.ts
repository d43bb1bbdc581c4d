/**
 * TLS handshakes over an open byte channel: the client side through `Deno.startTls` (or
 * `node:tls` when the channel is not a TCP conn), the server side through `node:tls`, since
 * Deno has no server-side `startTls`.
 *
 * @module
 */

import { isIP } from "node:net";
import {
  connect as nodeTlsConnect,
  createSecureContext,
  rootCertificates,
  TLSSocket,
} from "node:tls";
import type { Duplex } from "node:stream";
import { type ByteChannel, isTcpConn } from "./byte_channel.ts";
import { linkCancellation } from "./cancellation.ts";
import { TransportError, transportError } from "./errors.ts";
import { channelToDuplex, NodeStreamChannel } from "./node_channel.ts";
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  type TlsClientOptions,
  type TlsServerOptions,
} from "./tls_options.ts";

/** A finished handshake: the encrypted channel and what was negotiated. */
export interface TlsUpgrade {
  /** The encrypted channel; the plaintext one must no longer be used. */
  channel: ByteChannel;
  /** The negotiated ALPN protocol, or `null`. */
  alpnProtocol: string | null;
}

/** Options of a client handshake: the client options plus the name to verify. */
export interface ClientHandshakeOptions extends TlsClientOptions {
  /** The name verified and sent as SNI. */
  serverHostname: string;
  /** Aborts the handshake (the channel is closed). */
  signal?: AbortSignal;
}

/** Settles as the handshake does, or rejects on timeout or abort. */
async function bounded<T>(
  handshake: Promise<T>,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  const cancel = linkCancellation(signal, timeout, `TLS handshake timed out after ${timeout} ms`);
  try {
    return await cancel.race(handshake);
  } finally {
    cancel.dispose();
  }
}

/**
 * Runs the client side of a TLS handshake over `channel` and returns the encrypted channel.
 * On failure the channel is closed and a {@linkcode TransportError} says why (for example
 * `certificate not valid for name "wrong.example"`).
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
    throw transportError("TLS handshake failed", error);
  }
  const handshake = tlsConn.handshake();
  try {
    const info = await bounded(handshake, timeout, options.signal);
    return { channel: tlsConn, alpnProtocol: info.alpnProtocol };
  } catch (error) {
    tlsConn.close();
    await handshake.catch(() => {});
    throw transportError("TLS handshake failed", error);
  }
}

/**
 * Runs the server side of a TLS handshake over `channel` through `node:tls` and returns the
 * encrypted channel. On failure the channel is closed.
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
      secureContext: createSecureContext({ cert: options.cert, key: options.key }),
      ALPNProtocols: options.alpnProtocols,
    });
  } catch (error) {
    inner.destroy();
    throw transportError("TLS handshake failed", error);
  }
  return await settleNodeHandshake(socket, inner, "secure", timeout, options.signal);
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
  return await settleNodeHandshake(socket, inner, "secureConnect", timeout, options.signal);
}

async function settleNodeHandshake(
  socket: TLSSocket,
  inner: Duplex,
  event: "secure" | "secureConnect",
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<TlsUpgrade> {
  const channel = new NodeStreamChannel(socket, [inner]);
  const secured = new Promise<void>((resolve, reject) => {
    const settle = (error?: Error): void => {
      socket.off(event, onSecure);
      socket.off("error", settle);
      socket.off("end", onClosed);
      socket.off("close", onClosed);
      if (error) reject(error);
      else resolve();
    };
    const onSecure = (): void => settle();
    // Under Deno, a peer that hangs up mid-handshake may only end the stream.
    const onClosed = (): void =>
      settle(new TransportError("Connection closed by the peer during the TLS handshake"));
    socket.once(event, onSecure);
    socket.once("error", settle);
    socket.once("end", onClosed);
    socket.once("close", onClosed);
  });
  try {
    await bounded(secured, timeout, signal);
  } catch (error) {
    channel.close();
    await channel.closed;
    throw transportError("TLS handshake failed", error);
  }
  return { channel, alpnProtocol: socket.alpnProtocol || null };
}

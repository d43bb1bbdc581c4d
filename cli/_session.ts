/**
 * An interactive session, as ncat's: stdin goes to the peer as frames, received frames go to
 * stdout; stdin's end half-closes; the session ends when the connection does.
 */

import { FramedProtocol } from "../framing/framed_protocol.ts";
import { TinyprotoProtocol } from "../framing/tinyproto.ts";
import type { DatagramProtocol, StreamProtocolLike } from "../transport/protocols.ts";
import type { DatagramTransport } from "../transport/types.ts";
import type { TlsClientOptions } from "../transport/tls_options.ts";
import { printErrLine, printFrame, stdinFrames } from "./_common.ts";
import type { FramerSpec } from "./_framer.ts";
import { reason } from "./_errors.ts";
import { formatLinkStats, type LinkStats } from "./_observe.ts";

/** How a session prints and upgrades. */
export interface SessionOptions {
  framer: FramerSpec;
  /** Print received frames as hexdumps. */
  hex: boolean;
  /**
   * `--starttls LINE`, SMTP-style: the peer speaks first, and until TLS is up each line waits
   * for the reply to the one before; the reply to LINE is the go-ahead, then TLS starts.
   */
  starttls?: { line: string; tls: TlsClientOptions };
  /** `--stats`: print the connection's counters to stderr once it has ended. */
  stats?: boolean;
  /** `--wait`, UDP and tinyproto: how long to wait for replies after stdin ends (ms). */
  wait?: number;
}

/** One side of a session: frames out, the end of our output, and the end of it all. */
export interface Link {
  /** Sends a frame; resolves when more may be sent (flow control, a TLS upgrade). */
  send(frame: Uint8Array): Promise<void>;
  /** Our input ended: half-close, or what stands for it. */
  end(): Promise<void>;
  /** Resolves when the connection has ended, with why (undefined: in order). */
  readonly closed: Promise<Error | undefined>;
  /** Ends the connection at once. */
  abort(): void;
  /** The connection's counters (`undefined` before it is up). */
  stats(): LinkStats | undefined;
  /**
   * Whether something failed on the way that did not end the connection (a datagram that
   * could not be sent: its reason was printed then); the session then exits with 1.
   */
  failed?(): boolean;
}

/** A gate that sends wait on: closed while the peer does not read or TLS is starting. */
class Gate {
  #open: PromiseWithResolvers<void> | undefined;
  close(): void {
    this.#open ??= Promise.withResolvers<void>();
  }
  open(): void {
    this.#open?.resolve();
    this.#open = undefined;
  }
  wait(): Promise<void> {
    return this.#open?.promise ?? Promise.resolve();
  }
}

/**
 * Runs a session over `link`: stdin to the peer until stdin ends (then `end()`), frames
 * printed by the link, until the connection ends.
 *
 * @returns The exit code: 0 when the connection ended in order, else 1 (the reason printed).
 */
export async function runSession(
  link: Link,
  options: SessionOptions,
  label: string,
): Promise<number> {
  const raw = options.framer.kind === "framer" && options.framer.raw;
  const input = stdinFrames(raw).getReader();
  // One reaction on `closed` (a Promise.race per line added one per line, all kept until the
  // connection ended: a session fed a million lines held 700 MB): its end cancels stdin, which
  // ends a read in progress.
  link.closed.then(() => input.cancel().catch(() => {}));
  const pump = (async () => {
    for (;;) {
      const { done, value } = await input.read();
      if (done || value === undefined) break;
      await link.send(value);
    }
    await link.end();
  })();
  // A line that could not be sent fails the session, though aborting ends it in order.
  let failed = false;
  pump.catch((error) => {
    failed = true;
    printErrLine(`plexus: ${label}: ${reason(error)}`);
    link.abort();
  });
  const error = await link.closed;
  if (options.stats) {
    const stats = link.stats();
    if (stats) printErrLine(formatLinkStats(stats));
  }
  if (error) {
    printErrLine(`plexus: connection to ${label} failed: ${reason(error)}`);
    return 1;
  }
  return failed || link.failed?.() ? 1 : 0;
}

/**
 * A framed stream link: a {@linkcode FramedProtocol} (or tinyproto) to give a transport, and
 * the {@linkcode Link} over it.
 */
export function streamLink(options: SessionOptions): { protocol: StreamProtocolLike; link: Link } {
  if (options.framer.kind === "tinyproto") return tinyprotoLink(options);
  const starttls = options.starttls;
  /** Closed while the peer does not read (flow control). */
  const flow = new Gate();
  /**
   * With `--starttls`, until TLS is up: closed while a reply is due (the peer speaks first),
   * so that the go-ahead is told apart from the replies to earlier lines.
   */
  const turn = new Gate();
  if (starttls) turn.close();
  const made = Promise.withResolvers<void>();
  let phase: "plain" | "sent" | "upgrading" | "done" = starttls ? "plain" : "done";
  const decoder = new TextDecoder();
  const framed: FramedProtocol<Uint8Array> = new FramedProtocol(options.framer.create(), {
    connectionMade: () => made.resolve(),
    frameReceived(frame, framed) {
      printFrame(frame, options.hex, options.framer);
      // SMTP's multi-line replies ("250-...") go on until a line without the dash.
      if (!starttls || phase === "upgrading" || phase === "done") return;
      if (/^\d{3}-/.test(decoder.decode(frame))) return;
      if (phase === "plain") {
        turn.open();
        return;
      }
      phase = "upgrading";
      const transport = framed.transport;
      const upgrade = transport.startTls?.(starttls.tls) ??
        Promise.reject(new Error("this transport cannot start TLS"));
      upgrade.then(
        () => {
          phase = "done";
          turn.open();
        },
        (error) => transport.abort(error instanceof Error ? error : new Error(String(error))),
      );
    },
    // ncat's way: when the peer is done, so are we.
    eofReceived: () => false,
    pauseWriting: () => flow.close(),
    resumeWriting: () => flow.open(),
  });
  const ready = async (): Promise<void> => {
    await made.promise;
    await turn.wait();
    await flow.wait();
  };
  const link: Link = {
    async send(frame) {
      await ready();
      if (framed.transport.isClosing()) return;
      framed.sendFrame(frame);
      if (phase === "plain") {
        const line = decoder.decode(frame).replace(/\r$/, "").trim().toUpperCase();
        if (line === starttls!.line.trim().toUpperCase()) phase = "sent";
        turn.close(); // until the reply (the go-ahead, after LINE) and the handshake
      }
    },
    async end() {
      await ready();
      if (!framed.transport.isClosing()) framed.writeEof();
    },
    closed: framed.closed,
    abort: () => void made.promise.then(() => framed.transport.abort()),
    stats: () => framed.stats(),
  };
  return { protocol: framed, link };
}

function tinyprotoLink(options: SessionOptions): { protocol: StreamProtocolLike; link: Link } {
  let last: Promise<void> = Promise.resolve();
  // tinyproto has no half-close: after stdin ends, replies are awaited until `wait` ms pass
  // without a message, then the connection closes (as --udp does).
  let ended = false;
  let quiet: ReturnType<typeof setTimeout> | undefined;
  const armQuiet = (): void => {
    clearTimeout(quiet);
    // tinyproto.close() would wait closeTimeout (30 s) for the peer to close: the help says
    // the connection is closed once --wait passes.
    quiet = setTimeout(() => tinyproto.transport?.close(), options.wait ?? 1000);
  };
  const tinyproto = new TinyprotoProtocol({
    transmissionReceived: (payload) => {
      printFrame(payload, options.hex, options.framer);
      if (ended) armQuiet();
    },
    connectionEnded: () => clearTimeout(quiet),
  });
  const link: Link = {
    send(frame) {
      // One message at a time is tinyproto's own pace: wait for the peer's go-ahead.
      last = tinyproto.send(frame.slice());
      return last;
    },
    async end() {
      await last;
      ended = true;
      armQuiet();
    },
    closed: tinyproto.closed,
    abort: () => tinyproto.transport?.abort(),
    stats: () => tinyproto.stats(),
  };
  return { protocol: tinyproto, link };
}

/**
 * A UDP link: each frame one datagram. Connected (`peer` given) it talks to that peer only;
 * listening, it answers whoever sent last. After stdin ends it waits until `wait` ms pass
 * without a datagram, then closes.
 */
export function udpLink(
  options: SessionOptions,
  wait: number,
): { protocol: DatagramProtocol; link: Link; bind(transport: DatagramTransport): void } {
  let transport: DatagramTransport | undefined;
  let peer: Deno.NetAddr | undefined;
  let quiet: ReturnType<typeof setTimeout> | undefined;
  let ended = false;
  /** A datagram could not be sent (or an ICMP error came): the session failed. */
  let failed = false;
  const closed = Promise.withResolvers<Error | undefined>();
  const armQuiet = (): void => {
    clearTimeout(quiet);
    quiet = setTimeout(() => transport?.close(), wait);
  };
  const protocol: DatagramProtocol = {
    datagramReceived(data, addr) {
      peer = addr;
      printFrame(data, options.hex, options.framer);
      if (ended) armQuiet();
    },
    errorReceived(error) {
      failed = true;
      printErrLine(`plexus: ${reason(error)}`);
    },
    connectionLost(error) {
      clearTimeout(quiet);
      closed.resolve(error);
    },
  };
  const link: Link = {
    send(frame) {
      if (!transport) return Promise.resolve();
      const remote = transport.getExtraInfo("peername") as Deno.NetAddr | undefined;
      if (!remote && !peer) {
        printErrLine("plexus: no peer has sent a datagram yet; dropped a line");
        return Promise.resolve();
      }
      transport.sendto(frame.slice(), remote ? undefined : peer);
      return Promise.resolve();
    },
    end() {
      ended = true;
      armQuiet();
      return Promise.resolve();
    },
    closed: closed.promise,
    abort: () => transport?.abort(),
    stats: () => transport?.stats?.(),
    failed: () => failed,
  };
  return { protocol, link, bind: (t) => transport = t };
}

/**
 * An SMTP-like server on the framing layer: commands are lines ({@linkcode LineFramer}); after
 * `DATA` the receive framer switches to {@linkcode DotTerminatedFramer} for the message and
 * back to lines after it. Enough of RFC 5321 for Python's `smtplib` to deliver mail.
 *
 * Run it: `deno run --allow-net examples/smtp_server.ts [port]`, then for example
 * `python3 -c 'import smtplib; smtplib.SMTP("127.0.0.1", 2525).sendmail("a@x", ["b@y"], "hi")'`.
 *
 * @module
 */

import { Server } from "@plexus/net/endpoints";
import { DotTerminatedFramer, FramedProtocol, LineFramer } from "@plexus/net/framing";

/** One message the server accepted. */
export interface SmtpMessage {
  /** The `MAIL FROM` address. */
  from: string;
  /** The `RCPT TO` addresses. */
  to: string[];
  /**
   * The message, dot-unstuffed, with its line endings: a copy of its own. (The frame the
   * framer delivers is a view that keeps its whole receive block alive: storing views would
   * pin ~58 KiB per message.)
   */
  data: Uint8Array;
}

/** A running server. */
export interface SmtpServer {
  /** The port it listens on. */
  port: number;
  /** The messages accepted so far. */
  messages: SmtpMessage[];
  /** Stops listening, closes every connection and waits for them. */
  close(): Promise<void>;
  /** The server underneath (its accept loop survives resets, see `onError`). */
  server: Server<FramedProtocol>;
}

/**
 * The largest message accepted, in bytes: advertised in `EHLO` (`SIZE`, RFC 1870), checked
 * against the size a client declares in `MAIL FROM`, and the dot-terminated framer's limit
 * (a longer message ends the connection with a `FrameTooLongError`).
 */
export const MAX_MESSAGE_SIZE = 10 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The per-connection state machine: lines, or one message after `DATA`. */
function session(
  messages: SmtpMessage[],
  onMessage?: (message: SmtpMessage) => void,
): FramedProtocol {
  let from = "";
  let to: string[] = [];
  const reply = (framed: FramedProtocol, ...lines: string[]) => {
    for (const line of lines) framed.sendFrame(encoder.encode(line));
  };
  return new FramedProtocol(new LineFramer({ maxLength: 1000 }), {
    connectionMade: (framed) => reply(framed, "220 plexus ESMTP ready"),
    frameReceived(frame, framed) {
      if (framed.receiveFramer instanceof DotTerminatedFramer) {
        // Copy what is kept: the frame is a view into the connection's receive block.
        const message = { from, to, data: frame.slice() };
        messages.push(message);
        onMessage?.(message);
        from = "";
        to = [];
        framed.receiveFramer = new LineFramer({ maxLength: 1000 });
        reply(framed, "250 OK: queued");
        return;
      }
      const line = decoder.decode(frame);
      const verb = line.slice(0, 4).toUpperCase();
      const argument = line.slice(line.indexOf(":") + 1).trim();
      switch (verb) {
        case "EHLO":
          return reply(framed, "250-plexus", "250-8BITMIME", `250 SIZE ${MAX_MESSAGE_SIZE}`);
        case "HELO":
          return reply(framed, "250 plexus");
        case "MAIL": {
          const size = /\bSIZE=(\d+)/i.exec(argument);
          if (size && Number(size[1]) > MAX_MESSAGE_SIZE) {
            return reply(framed, `552 Message size exceeds fixed maximum of ${MAX_MESSAGE_SIZE}`);
          }
          from = argument.replace(/^<|>.*$/g, "");
          return reply(framed, "250 OK");
        }
        case "RCPT":
          to.push(argument.replace(/^<|>.*$/g, ""));
          return reply(framed, "250 OK");
        case "DATA":
          if (to.length === 0) return reply(framed, "503 RCPT first");
          framed.receiveFramer = new DotTerminatedFramer({ maxFrameLength: MAX_MESSAGE_SIZE });
          return reply(framed, "354 End data with <CR><LF>.<CR><LF>");
        case "RSET":
          from = "";
          to = [];
          return reply(framed, "250 OK");
        case "NOOP":
          return reply(framed, "250 OK");
        case "QUIT":
          reply(framed, "221 Bye");
          return framed.close();
        default:
          return reply(framed, "500 Unknown command");
      }
    },
  });
}

/**
 * Starts the server on a {@linkcode Server}, whose accept loop skips clients that reset before
 * they were accepted instead of stopping.
 *
 * @param options Where to listen (`127.0.0.1`, a free port by default) and a callback per
 * message.
 * @returns The running server.
 */
export async function startSmtpServer(
  options: { hostname?: string; port?: number; onMessage?: (message: SmtpMessage) => void } = {},
): Promise<SmtpServer> {
  const messages: SmtpMessage[] = [];
  const server = new Server(() => session(messages, options.onMessage));
  const [address] = await server.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
  });
  return {
    port: (address as Deno.NetAddr).port,
    messages,
    server,
    async close() {
      await server.close();
      server.abortClients();
      await server.waitClosed();
    },
  };
}

if (import.meta.main) {
  const server = await startSmtpServer({
    port: Number(Deno.args[0] ?? 2525),
    onMessage: (m) =>
      console.log(`message from ${m.from} to ${m.to.join(", ")}: ${m.data.length} bytes`),
  });
  console.log(`SMTP-like server on 127.0.0.1:${server.port}`);
}

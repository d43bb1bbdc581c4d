/**
 * tinyproto's echo example: the server echoes every message back ("Echo back: ..."); `QUIT`
 * ends the sender's connection, `SRVQUIT` stops the server along with all its clients.
 *
 *   deno run --allow-net=127.0.0.1 examples/tinyproto/echo.ts server [port]
 *   deno run --allow-net=127.0.0.1 examples/tinyproto/echo.ts client [port]   (lines from stdin)
 */

import { TinyprotoClient, TinyprotoServer } from "@plexus/net/endpoints";
import type { TinyprotoProtocol } from "@plexus/net/framing";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The echo server, with a log of its connections. */
export class EchoServer extends TinyprotoServer {
  readonly log: string[] = [];

  /** @param log Where connection events go. */
  constructor(log: (line: string) => void = () => {}) {
    super(() => ({
      transmissionReceived: (message, connection) => {
        const text = decoder.decode(message);
        if (text === "QUIT") connection.close();
        else if (text === "SRVQUIT") this.close();
        else connection.send(encoder.encode(`Echo back: ${text}`)).catch(() => {});
      },
    }));
    this.#log = log;
  }

  readonly #log: (line: string) => void;

  override connInit(id: string, _connection: TinyprotoProtocol): void {
    this.#log(`connection opened: ${id.slice(0, 8)}`);
  }

  override connShutdown(id: string, _connection: TinyprotoProtocol): void {
    this.#log(`connection closed: ${id.slice(0, 8)}`);
  }
}

/**
 * Sends each line to the echo server and returns the replies, in order. The connection ends
 * after `QUIT` or `SRVQUIT` (or after the last line).
 */
export async function echoClient(
  address: Deno.NetAddr | string,
  lines: Iterable<string> | AsyncIterable<string>,
): Promise<string[]> {
  const replies: string[] = [];
  const waiting: (() => void)[] = [];
  await using client = new TinyprotoClient(() => ({
    transmissionReceived: (message) => {
      replies.push(decoder.decode(message));
      waiting.shift()?.();
    },
  }));
  const connection = await client.connectTo(address);
  let quit = false;
  for await (const line of lines) {
    if (line === "QUIT" || line === "SRVQUIT") {
      await connection.send(encoder.encode(line));
      quit = true;
      break;
    }
    const replied = new Promise<void>((resolve) => waiting.push(resolve));
    await connection.send(encoder.encode(line));
    await Promise.race([replied, connection.closed]);
  }
  if (!quit) connection.close(); // the server closes only after QUIT: end it ourselves
  await connection.closed.catch(() => {});
  return replies;
}

/** The lines typed on standard input. */
async function* stdinLines(): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest) yield rest; // a last line without a line ending
}

if (import.meta.main) {
  const [role = "server", port = "9123"] = Deno.args;
  const address = `127.0.0.1:${port}`;
  if (role === "server") {
    const server = new EchoServer(console.log);
    await server.listen(address);
    console.log(`tinyproto echo server on ${address}; SRVQUIT from a client stops it`);
    await server.run();
  } else {
    for (const reply of await echoClient(address, stdinLines())) console.log(reply);
  }
}

/**
 * tinyproto's chat example: every message a client sends goes to all the other clients as
 * `[id] message`; joining and leaving are announced the same way.
 *
 *   deno run --allow-net=127.0.0.1 examples/tinyproto/chat.ts server [port]
 *   deno run --allow-net=127.0.0.1 examples/tinyproto/chat.ts client [port]   (lines from stdin)
 */

import { TinyprotoClient, TinyprotoServer } from "@plexus/net/endpoints";
import type { TinyprotoProtocol } from "@plexus/net/framing";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The chat server: relays each message to every other connection. */
export class ChatServer extends TinyprotoServer {
  readonly #ids = new Map<TinyprotoProtocol, string>();

  constructor() {
    super(() => ({
      transmissionReceived: (message, connection) =>
        this.broadcast(connection, decoder.decode(message)),
    }));
  }

  /** The short name of a connection, as shown in messages. */
  nameOf(connection: TinyprotoProtocol): string {
    return this.#ids.get(connection) ?? "?";
  }

  override connInit(id: string, connection: TinyprotoProtocol): void {
    this.#ids.set(connection, id.slice(0, 8));
  }

  override connShutdown(_id: string, connection: TinyprotoProtocol): void {
    this.broadcast(connection, "**left the chat");
    this.#ids.delete(connection);
  }

  /** Sends `[sender] text` to every connection but the sender. */
  broadcast(from: TinyprotoProtocol, text: string): void {
    const line = encoder.encode(`[${this.nameOf(from)}] ${text}`);
    for (const connection of this.activeConnections.values()) {
      if (connection !== from) connection.send(line).catch(() => {});
    }
  }
}

/** A chat participant: collects what it hears, and can wait for a line. */
export class ChatClient implements AsyncDisposable {
  readonly heard: string[] = [];
  #waiters: { check: () => boolean; resolve: () => void }[] = [];
  readonly #client: TinyprotoClient;
  #connection: TinyprotoProtocol | undefined;

  /** @param onLine Called with each line heard. */
  constructor(onLine: (line: string) => void = () => {}) {
    this.#client = new TinyprotoClient(() => ({
      transmissionReceived: (message) => {
        const line = decoder.decode(message);
        this.heard.push(line);
        onLine(line);
        this.#waiters = this.#waiters.filter((w) => !(w.check() && (w.resolve(), true)));
      },
    }));
  }

  /** Joins the chat at `address` and announces it. */
  async join(address: Deno.NetAddr | string): Promise<void> {
    this.#connection = await this.#client.connectTo(address);
    await this.say("**joined the chat");
  }

  /** Sends a line to everyone else. */
  async say(text: string): Promise<void> {
    await this.#connection!.send(encoder.encode(text));
  }

  /** Resolves once a line ending with `text` was heard. */
  hear(text: string): Promise<void> {
    const check = (): boolean => this.heard.some((line) => line.endsWith(text));
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }

  /** Leaves the chat. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#client.close();
  }
}

if (import.meta.main) {
  const [role = "server", port = "8088"] = Deno.args;
  const address = `127.0.0.1:${port}`;
  if (role === "server") {
    const server = new ChatServer();
    await server.listen(address);
    console.log(`tinyproto chat on ${address}`);
    await server.run();
  } else {
    await using client = new ChatClient(console.log);
    await client.join(address);
    let rest = ""; // a line may arrive in several chunks
    for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines.filter(Boolean)) await client.say(line);
    }
    if (rest) await client.say(rest);
  }
}

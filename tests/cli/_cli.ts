/** Runs the `plexus` CLI as a subprocess, and Python socket peers, for the CLI tests. */

import { within } from "../_shared.ts";

const root = new URL("../../", import.meta.url);
const encoder = new TextEncoder();

/** A path under tests/fixtures. */
export function fixture(name: string): string {
  return new URL(`tests/fixtures/${name}`, root).pathname;
}

/** A running CLI: its output as it arrives, its stdin, and how it ended. */
export class Cli {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #stdout = "";
  #stderr = "";
  #waiters: { test: () => boolean; resolve: () => void }[] = [];
  readonly #pumps: Promise<void>[];
  #stdinClosed = false;

  constructor(args: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", "cli/mod.ts", ...args],
      cwd: root,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#pumps = [
      this.#pump(this.#child.stdout, (text) => this.#stdout += text),
      this.#pump(this.#child.stderr, (text) => this.#stderr += text),
    ];
  }

  /** Everything written to stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  async #pump(stream: ReadableStream<Uint8Array>, add: (text: string) => void): Promise<void> {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      add(text);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.test()) return true;
        w.resolve();
        return false;
      });
    }
  }

  /** Resolves once stdout (or stderr) matches; rejects after `ms`. */
  waitFor(pattern: RegExp, where: "stdout" | "stderr" = "stdout", ms = 5000): Promise<string> {
    const test = (): boolean => pattern.test(where === "stdout" ? this.#stdout : this.#stderr);
    const found = new Promise<void>((resolve) => {
      if (test()) resolve();
      else this.#waiters.push({ test, resolve });
    });
    return within(found, ms, `${pattern} on ${where}`).then(() => {
      const text = where === "stdout" ? this.#stdout : this.#stderr;
      return pattern.exec(text)![0];
    });
  }

  /** Writes text to the CLI's stdin. */
  async write(text: string): Promise<void> {
    await this.#stdin.write(encoder.encode(text));
  }

  /** Ends the CLI's stdin. */
  async closeStdin(): Promise<void> {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    await this.#stdin.close();
  }

  /** Sends a signal. */
  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Waits (at most `ms`) for the CLI to exit, and returns its exit code. */
  async exit(ms = 8000): Promise<number> {
    try {
      const status = await within(this.#child.status, ms, "the CLI's exit");
      await Promise.all(this.#pumps);
      return status.code;
    } catch (error) {
      this.#child.kill("SIGKILL");
      await this.#child.status;
      await Promise.all(this.#pumps);
      throw error;
    } finally {
      if (!this.#stdinClosed) {
        this.#stdinClosed = true;
        await this.#stdin.close().catch(() => {});
      }
    }
  }
}

/** Runs the CLI with `stdin` as its whole input and returns its exit code and output. */
export async function runCli(
  args: string[],
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = new Cli(args);
  if (stdin !== "") await cli.write(stdin);
  await cli.closeStdin();
  const code = await cli.exit();
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}

/**
 * A Python TCP peer on 127.0.0.1 that accepts one connection, sends `greeting`, reads until
 * the CLI's EOF (its half-close), echoes all it read, and closes. `done` gives the bytes it
 * read, in hex.
 */
export function pythonEchoAfterEof(
  greeting: Uint8Array = new Uint8Array(),
): { port: Promise<number>; done: Promise<string> } {
  const script = `
c.sendall(bytes.fromhex(sys.argv[1]))
data = b""
while True:
    chunk = c.recv(65536)
    if not chunk:
        break
    data += chunk
c.sendall(data)
c.close()
print(data.hex(), flush=True)
`;
  return pythonPeer(script, Array.from(greeting, (b) => b.toString(16).padStart(2, "0")).join(""));
}

/**
 * What every Python peer starts with: it listens on 127.0.0.1, prints its port, and accepts
 * one connection as `c` (10 s timeouts, so a stuck test cannot hang the peer for ever).
 */
const PYTHON_ACCEPT_ONE = `
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
s.settimeout(10)
c, _ = s.accept()
c.settimeout(10)
`;

/**
 * Runs a Python peer script after {@linkcode PYTHON_ACCEPT_ONE} (the script works on `c`);
 * the script prints one result line before it exits: `port` resolves with the port, `done`
 * with the result line once the peer has exited.
 */
function pythonPeer(
  script: string,
  ...args: string[]
): { port: Promise<number>; done: Promise<string> } {
  const child = new Deno.Command("python3", {
    args: ["-c", PYTHON_ACCEPT_ONE + script, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      const { done, value } = await lines.read();
      if (done) throw new Error("the Python peer ended early");
      buffered += value;
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return line;
  };
  const port = nextLine().then(Number);
  const done = (async () => {
    await port;
    const result = await nextLine();
    await lines.cancel();
    await child.status;
    return result;
  })();
  return { port, done };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export function closedPort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

/**
 * A Python peer on 127.0.0.1 that speaks the cs.packetstream wire format, written from the
 * format (tests/fixtures/vectors/packetstream.txt), not from Plexus: for each request it
 * answers ok with flags + 1 and the payload upper-cased; on the EOF packet it sends its own
 * EOF and closes. `done` gives the requests it saw, as `RQTYPE FLAGS PAYLOADHEX;...`.
 */
export function pythonPacketPeer(): { port: Promise<number>; done: Promise<string> } {
  const script = `
def bsuint(n):
    out = [n & 0x7f]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7f))
        n >>= 7
    return bytes(reversed(out))
def read_bsuint(buf, i):
    n = 0
    while True:
        if i >= len(buf):
            return None, i
        b = buf[i]
        i += 1
        n = (n << 7) | (b & 0x7f)
        if not b & 0x80:
            return n, i
buf = b""
seen = []
done = False
while not done:
    chunk = c.recv(65536)
    if not chunk:
        break
    buf += chunk
    while True:
        length, i = read_bsuint(buf, 0)
        if length is None or len(buf) < i + length:
            break
        body, buf = buf[i:i + length], buf[i + length:]
        tag, j = read_bsuint(body, 0)
        field, j = read_bsuint(body, j)
        channel = 0
        if field & 1:
            channel, j = read_bsuint(body, j)
        if not field & 2:
            continue
        rq, j = read_bsuint(body, j)
        payload = body[j:]
        if rq == 0:
            if tag == 0:
                c.sendall(bytes.fromhex("03000200"))
                done = True
                break
            continue
        flags = field >> 2
        seen.append("%d %d %s" % (rq - 1, flags, payload.hex()))
        wire_flags = ((flags + 1) << 1) | 1
        reply = bsuint(tag) + bsuint((wire_flags << 2) | (1 if channel else 0))
        if channel:
            reply += bsuint(channel)
        reply += payload.upper()
        c.sendall(bsuint(len(reply)) + reply)
c.close()
print(";".join(seen), flush=True)
`;
  return pythonPeer(script);
}

/** What a {@linkcode rawPeer} does with one connection. */
export type RawPeerMode = "echo" | "hold" | "drop";

/**
 * A raw TCP server on 127.0.0.1 whose `index`-th connection is echoed (read only as fast as it
 * is written back), held open and never read, or closed at once; `close()` ends it and them.
 */
export function rawPeer(
  mode: (index: number) => RawPeerMode,
): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const echoes: Promise<void>[] = [];
  const loop = (async () => {
    let index = 0;
    try {
      for await (const conn of listener) {
        const what = mode(index++);
        if (what === "drop") conn.close();
        else if (what === "hold") held.push(conn);
        else echoes.push(conn.readable.pipeTo(conn.writable).catch(() => {}));
      }
    } catch {
      // The listener closed.
    }
  })();
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      await loop;
      for (const conn of held) conn.close();
      await Promise.all(echoes);
    },
  };
}

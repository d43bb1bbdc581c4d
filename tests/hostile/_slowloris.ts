/**
 * A slowloris attacker in its own process (Python, epoll): it opens many connections to a
 * port and either trickles one byte on each every `interval` ms, never finishing a line, or
 * stays silent. It reports how long each connection lived after its first byte (trickle) or
 * its connect (silent) before the server ended it. Shared by the hostile test and the soak.
 */

/** What the attacker does on each connection. */
export type AttackMode = "trickle" | "silent";

/** Options of {@linkcode startAttack}. */
export interface AttackOptions {
  /** Connections to open. */
  connections: number;
  /** `trickle`: one byte per connection every `interval` ms; `silent`: nothing. */
  mode: AttackMode;
  /** Milliseconds between trickled bytes. */
  interval?: number;
  /** Milliseconds after which the attacker gives up waiting for the server to cut it. */
  limit: number;
}

/** What the attacker saw. */
export interface AttackResult {
  /** Connections opened. */
  connected: number;
  /** Connections the server ended (EOF or reset) before `limit`. */
  cut: number;
  /** Of those, how many were reset rather than closed. */
  resets: number;
  /** Per cut connection: ms from its first byte (trickle) or connect (silent) to its end. */
  latencies: number[];
}

/** A running attack. */
export interface Attack {
  /** Resolves once every connection is open (and, trickling, has sent its first byte). */
  connected: Promise<void>;
  /** Resolves when every connection was cut, or at `limit`. */
  result: Promise<AttackResult>;
}

const SCRIPT = `
import json, selectors, socket, sys, time
port, n, interval, limit, mode = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000, float(sys.argv[4]) / 1000, sys.argv[5]
sel = selectors.DefaultSelector()
socks, since, cut = [], [], [None] * n
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
    since.append(time.monotonic())
    sel.register(s, selectors.EVENT_READ, i)
resets, live = 0, n
def end(i, reset):
    global resets, live
    if cut[i] is not None:
        return
    cut[i] = time.monotonic()
    resets += reset
    live -= 1
    sel.unregister(socks[i])
def trickle(first):
    for i, s in enumerate(socks):
        if cut[i] is None:
            try:
                s.send(b"a")
                if first:
                    since[i] = time.monotonic()
            except OSError:
                end(i, 1)
start = time.monotonic()
if mode == "trickle":
    trickle(True)
print("connected", flush=True)
next_send = start + interval
while live and time.monotonic() - start < limit:
    wait = (next_send if mode == "trickle" else start + limit) - time.monotonic()
    for key, _ in sel.select(max(0, min(wait, 0.05))):
        try:
            data = key.fileobj.recv(4096)
        except OSError:
            end(key.data, 1)
            continue
        if not data:
            end(key.data, 0)
    if mode == "trickle" and time.monotonic() >= next_send:
        trickle(False)
        next_send += interval
for s in socks:
    s.close()
latencies = [round((c - since[i]) * 1000) for i, c in enumerate(cut) if c is not None]
print(json.dumps({"connected": n, "cut": len(latencies), "resets": resets, "latencies": latencies}), flush=True)
`;

/**
 * Starts the attacker process against `127.0.0.1:port`.
 *
 * @param port The server's port.
 * @param options How many connections, what they do, and for how long at most.
 * @returns Promises for "all connected" and for the result.
 */
export function startAttack(port: number, options: AttackOptions): Attack {
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      SCRIPT,
      String(port),
      String(options.connections),
      String(options.interval ?? 1000),
      String(options.limit),
      options.mode,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const connected = Promise.withResolvers<void>();
  const result = (async (): Promise<AttackResult> => {
    const decoder = new TextDecoder();
    let out = "";
    let last: AttackResult | undefined;
    const stderr = new Response(child.stderr).text();
    for await (const chunk of child.stdout) {
      out += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = out.indexOf("\n")) >= 0) {
        const line = out.slice(0, newline);
        out = out.slice(newline + 1);
        if (line === "connected") connected.resolve();
        else if (line.startsWith("{")) last = JSON.parse(line);
      }
    }
    const status = await child.status;
    const errors = await stderr;
    if (!status.success || !last) {
      const failure = new Error(`The attacker failed (exit ${status.code}): ${errors}`);
      connected.reject(failure);
      throw failure;
    }
    return last;
  })();
  result.catch(() => {}); // reported through `connected` too; awaited by the caller
  return { connected: connected.promise, result };
}

/**
 * A spoofed-source UDP flood from a separate process (python3): each datagram comes from its
 * own socket bound to its own loopback address (127.1.0.0 and up; all of 127/8 is loopback
 * on Linux), so every one is a new peer, as with spoofed sources, and no source repeats.
 *
 * The flood runs in windows of 64 sources: it sends 64 datagrams, then takes the answers that
 * come within 50 ms (an echo service answers each source once) before the next window. So it
 * goes as fast as the service can take it without overflowing the socket's receive buffer —
 * datagrams the kernel drops would test the kernel, not the peer table — and its count of
 * answered sources says how many new peers the service really served.
 *
 * Protocol on stdout: `flooding` once `warm` sources have sent, `done <sent> <answered>` at
 * the end. The flood goes on until `stop` arrived on stdin and `least` sources have sent, or
 * `most` have, or `seconds` have passed.
 */

const FLOODER = `
import select, socket, sys, time
port, warm, least, most, seconds = (int(arg) for arg in sys.argv[1:6])
target = ("127.0.0.1", port)
ends = time.monotonic() + seconds
sent = answered = 0
announced = False
while sent < most and time.monotonic() < ends:
    window = []
    for _ in range(64):
        n = sent + 65536
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.%d.%d.%d" % (n >> 16, (n >> 8) & 255, n & 255), 0))
        s.sendto(b"flood", target)
        window.append(s)
        sent += 1
    deadline = time.monotonic() + 0.05
    for s in window:
        left = deadline - time.monotonic()
        if left > 0:
            s.settimeout(left)
            try:
                s.recv(64)
                answered += 1
            except socket.timeout:
                pass
        s.close()
    if not announced and sent >= warm:
        print("flooding", flush=True)
        announced = True
    if sent >= least and select.select([sys.stdin], [], [], 0)[0]:
        break
if not announced:
    print("flooding", flush=True)
print("done %d %d" % (sent, answered), flush=True)
sys.stdin.read()
`;

/** A running flooder. */
export interface Flooder {
  /** Resolves once `warm` sources have sent. */
  readonly flooding: Promise<void>;
  /** Asks the flood to end (once `least` have sent); resolves with its counts. */
  stop(): Promise<{ sent: number; answered: number }>;
}

/**
 * Starts a flood at `port` on 127.0.0.1.
 *
 * @param port The target port.
 * @param sources `warm`: sources sent before `flooding` resolves; `least`: sources sent
 * before `stop()` may end the flood; `most`: the most sources in all; `seconds`: the longest
 * the flood may last.
 */
export function startFlooder(
  port: number,
  sources: { warm: number; least: number; most: number; seconds: number },
): Flooder {
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      FLOODER,
      ...[port, sources.warm, sources.least, sources.most, sources.seconds].map(String),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const nextLine = async (): Promise<string> => {
    while (!pending.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`Flooder ended early, after ${JSON.stringify(pending)}`);
      pending += value;
    }
    const end = pending.indexOf("\n");
    const line = pending.slice(0, end);
    pending = pending.slice(end + 1);
    return line;
  };
  const flooding = nextLine().then((line) => {
    if (line !== "flooding") throw new Error(`Flooder said ${JSON.stringify(line)}`);
  });
  const writer = child.stdin.getWriter();
  return {
    flooding,
    async stop(): Promise<{ sent: number; answered: number }> {
      await flooding.catch(() => {});
      await writer.write(new TextEncoder().encode("stop\n"));
      const line = await nextLine();
      await writer.close();
      await lines.cancel();
      const status = await child.status;
      if (!status.success || !line.startsWith("done ")) {
        throw new Error(`Flooder failed (${status.code}) after ${JSON.stringify(line)}`);
      }
      const [sent, answered] = line.slice(5).split(" ").map(Number);
      return { sent, answered };
    },
  };
}

/** A genuine peer: one socket, questions numbered, answers collected as they arrive. */
export class GenuinePeer {
  readonly #socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  readonly #target: Deno.NetAddr;
  #waiter: { seq: number; resolve: (answered: boolean) => void } | undefined;
  readonly #reading: Promise<void>;
  readonly #deadline: number;
  #seq = 0;

  /**
   * @param target The service.
   * @param deadline Milliseconds a question may wait before it counts as unanswered.
   */
  constructor(target: Deno.NetAddr, deadline: number) {
    this.#target = target;
    this.#deadline = deadline;
    this.#reading = this.#read();
  }

  /** Asks once; true when the answer came within the deadline. */
  async ask(): Promise<boolean> {
    const seq = ++this.#seq;
    const answer = new Promise<boolean>((resolve) => this.#waiter = { seq, resolve });
    const timer = setTimeout(() => this.#waiter?.resolve(false), this.#deadline);
    await this.#socket.send(new TextEncoder().encode(`genuine ${seq}`), this.#target);
    try {
      return await answer;
    } finally {
      clearTimeout(timer);
      this.#waiter = undefined;
    }
  }

  /** Asks `n` times in a row; returns how many were answered. */
  async askTimes(n: number): Promise<number> {
    let answered = 0;
    for (let i = 0; i < n; i++) if (await this.ask()) answered++;
    return answered;
  }

  async close(): Promise<void> {
    this.#socket.close();
    await this.#reading;
  }

  async #read(): Promise<void> {
    for (;;) {
      let data: Uint8Array;
      try {
        [data] = await this.#socket.receive();
      } catch {
        return; // closed
      }
      const seq = Number(new TextDecoder().decode(data).slice("genuine ".length));
      if (this.#waiter?.seq === seq) this.#waiter.resolve(true);
    }
  }
}

import { assertEquals } from "@std/assert";
import { Application, type Tendril, UdpTendrilManager } from "@plexus/net/endpoints";
import type { Transport } from "@plexus/net/transport";

/** Records its write-flow signals; `burst` sends on its first resume until paused again. */
class Flow extends Application {
  readonly events: string[] = [];
  paused = false;
  burst = false;
  onEvent: (() => void) | undefined;
  frameReceived(_frame: Uint8Array): void {}
  override pauseWriting(): void {
    this.paused = true;
    this.events.push("pause");
    this.onEvent?.();
  }
  override resumeWriting(): void {
    this.paused = false;
    this.events.push("resume");
    if (this.burst) {
      this.burst = false;
      for (let i = 0; i < 10 && !this.paused; i++) this.sendFrame(new Uint8Array(1000));
    }
    this.onEvent?.();
  }
}

Deno.test("UDP manager: each peer hears pauseWriting/resumeWriting alternating, even when one peer's resumeWriting refills the socket", async () => {
  const sinkA = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const sinkB = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const manager = new UdpTendrilManager("127.0.0.1:0");
  await manager.start();
  let a!: Flow, b!: Flow;
  const ta: Tendril = (await manager.connect(sinkA.addr, (t) => (a = new Flow(t))))!;
  await manager.connect(sinkB.addr, (t) => (b = new Flow(t)));
  // The shared socket's watermarks, small.
  const peerA = (ta as unknown as { framed: { transport: Transport } }).framed.transport;
  peerA.setWriteBufferLimits({ high: 2000, low: 500 });
  const done = Promise.withResolvers<void>();
  // Done once the socket has drained for good: both applications' last event is a resume
  // and nothing is queued.
  const check = () => {
    if (
      a.events.length >= 3 && a.events.at(-1) === "resume" && b.events.at(-1) === "resume" &&
      peerA.getWriteBufferSize() === 0
    ) done.resolve();
  };
  a.onEvent = b.onEvent = check;
  a.burst = true;
  for (let i = 0; i < 5 && !a.paused; i++) ta.sendFrame(new Uint8Array(1000));
  const guard = setTimeout(() => done.reject(new Error("timed out")), 3000);
  try {
    await done.promise;
  } finally {
    clearTimeout(guard);
  }
  // A: pause, resume (refills the socket), pause, resume.
  assertEquals(a.events, ["pause", "resume", "pause", "resume"]);
  // B must alternate too; it heard pause, pause, resume, resume — and between its two
  // resumes it was told to write while the socket was over its high watermark.
  assertEquals(b.events, ["pause", "resume"]);
  await manager.shutdown();
  sinkA.close();
  sinkB.close();
});

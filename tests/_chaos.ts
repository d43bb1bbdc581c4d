/**
 * A seeded chaos/differential fuzzer across the stack: two ends (raw protocol, buffered
 * protocol, StreamProtocol, FramedProtocol with switching framers, PacketConnection) over the
 * in-memory pair or real TCP, driven by random actions from callbacks, microtasks and timers.
 * `runScenario(seed, backend)` returns the invariant violations it saw.
 */
import {
  type BufferedProtocol,
  createMemoryTransportPair,
  type Protocol,
  StreamProtocol,
  StreamTransport,
  type Transport,
} from "@plexus/net/transport";
import { FramedProtocol, LengthPrefixedFramer, LineFramer } from "@plexus/net/framing";
import { PacketConnection } from "@plexus/net/packet";
import { prng as rng } from "./_shared.ts";

/** `tcp-linger`: TCP with lingering closes on both ends (`lingerTimeout`). */
export type Backend = "memory" | "tcp" | "tcp-linger";
type Kind = "raw" | "buffered" | "stream" | "framed" | "packet";

class Bytes {
  buf = new Uint8Array(256);
  length = 0;
  push(data: Uint8Array): void {
    if (this.length + data.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + data.length));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(data, this.length);
    this.length += data.length;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** One end: its protocol (as given to the transport), what it sent and received. */
interface End {
  side: number;
  kind: Kind;
  protocol: Protocol | BufferedProtocol;
  transport?: Transport;
  sentBytes: Bytes;
  recvBytes: Bytes;
  sentItems: string[];
  recvItems: string[];
  lost: number;
  eof: boolean;
  /** Bytes surely sent (a StreamProtocol's resolved writes); -1: all of sentBytes. */
  confirmed: number;
  /** Whether this end aborted (or failed): its peer's EOF may come without all the bytes. */
  aborted: boolean;
  threw: boolean;
  lostError?: Error;
  events: string[];
  /** A random action of this end; `where` names the caller. */
  act(where: string): void;
  /** Graceful or abrupt end of the scenario. */
  finish(graceful: boolean): void;
}

export interface Result {
  seed: number;
  backend: Backend;
  kinds: string;
  violations: string[];
  lost?: string[];
}

export async function runScenario(seed: number, backend: Backend): Promise<Result> {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const violations: string[] = [];
  const tracked: { name: string; settled: boolean }[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let stopped = false;
  /** Set once the ends are told to finish: no action may pause reading for good after it. */
  let finishing = false;
  const track = (name: string, p: Promise<unknown>): void => {
    const entry = { name, settled: false };
    tracked.push(entry);
    p.then(() => entry.settled = true, () => entry.settled = true);
  };
  const later = (fn: () => void, ms: number): void => {
    const id = setTimeout(() => {
      timers.delete(id);
      if (!stopped) fn();
    }, ms);
    timers.add(id);
  };
  const bytesFamily: Kind[] = ["raw", "buffered", "stream"];
  const family = r();
  const kinds: [Kind, Kind] = family < 0.45
    ? [pick(bytesFamily), pick(bytesFamily)]
    : family < 0.75
    ? ["framed", "framed"]
    : ["packet", "packet"];
  const limits = r() < 0.5 ? { high: 1 + Math.floor(r() * 4096), low: 0 } : undefined;
  if (limits) limits.low = Math.floor(r() * limits.high);
  const extensions = [r() < 0.5, r() < 0.5];
  const lineFirst = r() < 0.5;
  const ends: End[] = [];

  // Wraps a protocol's callbacks with the lifecycle checks.
  const wrap = (
    end: End,
    inner: Protocol | BufferedProtocol,
    chaos: boolean,
  ): Protocol | BufferedProtocol => {
    let paused = false;
    const guard = (name: string) => {
      end.events.push(name);
      if (end.lost > 0) {
        violations.push(`side ${end.side} (${end.kind}): ${name} after connectionLost`);
      }
    };
    const maybeAct = (where: string) => {
      if (!chaos) return;
      const y = r();
      if (y < 0.01 && where !== "connectionLost") {
        end.threw = true;
        end.events.push(`THROW@${where}`);
        throw new Error(`fuzz: ${where} throws`);
      }
      if (y < 0.25) end.act(where);
    };
    // deno-lint-ignore no-explicit-any
    const p = inner as any;
    // deno-lint-ignore no-explicit-any
    const w: any = {
      connectionName: p.connectionName,
      connectionMade(t: Transport) {
        guard("connectionMade");
        end.transport = t;
        p.connectionMade?.(t);
        maybeAct("connectionMade");
      },
      connectionLost(error: Error | undefined) {
        guard("connectionLost");
        end.lost++;
        if (error) end.aborted = true;
        end.events.push(`lost:${error?.name ?? "-"}:${error?.message ?? ""}`);
        end.lostError = error;
        if (end.threw && !error) {
          violations.push(`side ${end.side}: a callback threw, connectionLost(undefined)`);
        }
        p.connectionLost?.(error);
        maybeAct("connectionLost");
      },
      pauseWriting() {
        guard("pauseWriting");
        if (paused) violations.push(`side ${end.side}: pauseWriting twice`);
        paused = true;
        p.pauseWriting?.();
        maybeAct("pauseWriting");
      },
      resumeWriting() {
        guard("resumeWriting");
        if (!paused) violations.push(`side ${end.side}: resumeWriting without pause`);
        paused = false;
        p.resumeWriting?.();
        maybeAct("resumeWriting");
      },
      eofReceived() {
        guard("eofReceived");
        const keep = p.eofReceived?.();
        maybeAct("eofReceived");
        return keep;
      },
    };
    if ("getBuffer" in p) {
      w.getBuffer = (hint: number) => p.getBuffer(hint);
      w.bufferUpdated = (n: number) => {
        guard("bufferUpdated");
        p.bufferUpdated(n);
        maybeAct("bufferUpdated");
      };
    } else {
      w.dataReceived = (d: Uint8Array) => {
        guard("dataReceived");
        p.dataReceived(d);
        maybeAct("dataReceived");
      };
    }
    return w;
  };

  const baseEnd = (side: number, kind: Kind): End => ({
    side,
    kind,
    protocol: undefined as unknown as Protocol,
    sentBytes: new Bytes(),
    recvBytes: new Bytes(),
    sentItems: [],
    recvItems: [],
    lost: 0,
    eof: false,
    confirmed: -1,
    aborted: false,
    threw: false,
    events: [],
    act() {},
    finish() {},
  });

  const transportActs = (end: End, x: number): boolean => {
    const t = end.transport;
    if (!t) return true;
    if (Deno.env.get("CX_DEBUG")) end.events.push(`act${x.toFixed(2)}`);
    if (x < 0.05) {
      t.setWriteBufferLimits(r() < 0.2 ? undefined : { high: Math.floor(r() * 5000) });
    } else if (x < 0.08) {
      if (t.flushed) track(`side ${end.side} flushed()`, t.flushed());
    } else if (x < 0.09 && backend === "tcp" && !finishing) {
      // a reset: stop reading so the peer's bytes stay unread, then abort soon
      t.pauseReading();
      end.aborted = true;
      later(() => t.abort(), Math.floor(r() * 3));
    } else if (x < 0.1) {
      end.aborted = true;
      t.abort();
    } else return false;
    return true;
  };

  const makeBytesEnd = (side: number, kind: Kind): End => {
    const end = baseEnd(side, kind);
    let counter = side * 77;
    const chunk = (): Uint8Array => {
      const n = r() < 0.1 ? Math.floor(r() * 70000) : 1 + Math.floor(r() * 600);
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = (counter++ * 13 + side) & 0xff;
      return data;
    };
    if (kind === "stream") {
      end.confirmed = 0;
      const sp = new (class extends StreamProtocol {
        override eofReceived(): boolean {
          end.eof = true;
          return super.eofReceived();
        }
      })({ readableHighWaterMark: 1 + Math.floor(r() * 8192) });
      const writer = sp.writable.getWriter();
      track(`side ${side} writer.closed`, writer.closed);
      const reader = sp.readable.getReader();
      track(`side ${side} reader.closed`, reader.closed);
      let readerStopped = false;
      let writerDone = false;
      const readLoop = async () => {
        while (!stopped) {
          if (r() < 0.1) {
            await new Promise((res) => later(() => res(undefined), Math.floor(r() * 3)));
          }
          let res;
          try {
            const p = reader.read();
            track(`side ${side} read()`, p);
            res = await p;
          } catch {
            return;
          }
          if (res.done) return;
          end.recvBytes.push(res.value);
          if (r() < 0.05) end.act("read");
        }
      };
      readLoop();
      end.protocol = sp;
      end.act = (where) => {
        const x = r();
        if (transportActs(end, x)) return;
        if (x < 0.6) {
          if (writerDone) return;
          const data = chunk();
          end.sentBytes.push(data);
          const p = writer.write(data);
          p.then(() => end.confirmed = end.sentBytes.length, () => {});
          track(`side ${side} write() from ${where}`, p);
        } else if (x < 0.65) {
          if (writerDone) return;
          writerDone = true;
          track(`side ${side} writer.close() from ${where}`, writer.close());
        } else if (x < 0.67) {
          if (writerDone) return;
          writerDone = true;
          end.aborted = true;
          track(`side ${side} writer.abort() from ${where}`, writer.abort(new Error("fuzz abort")));
        } else if (x < 0.69 && !readerStopped) {
          readerStopped = true;
          track(`side ${side} reader.cancel() from ${where}`, reader.cancel());
        }
      };
      end.finish = (graceful) => {
        if (!graceful) {
          end.aborted = true;
          end.transport?.abort();
          return;
        }
        if (!writerDone) {
          writerDone = true;
          track(`side ${side} final writer.close()`, writer.close());
        }
      };
      return end;
    }
    let paused = false;
    let eofCalled = false;
    if (kind === "raw") {
      end.protocol = {
        dataReceived: (d) => end.recvBytes.push(d),
        eofReceived: () => {
          end.eof = true;
          return r() < 0.7;
        },
      };
    } else {
      let buffer = new Uint8Array(1 + Math.floor(r() * 3000));
      end.protocol = {
        getBuffer: () => {
          if (r() < 0.2) buffer = new Uint8Array(1 + Math.floor(r() * 3000));
          return buffer;
        },
        bufferUpdated: (n) => end.recvBytes.push(buffer.slice(0, n)),
        eofReceived: () => {
          end.eof = true;
          return r() < 0.7;
        },
      };
    }
    end.act = () => {
      const t = end.transport;
      if (!t) return;
      const x = r();
      if (transportActs(end, x)) return;
      try {
        if (x < 0.6) {
          if (t.isClosing() || eofCalled) return;
          const data = chunk();
          end.sentBytes.push(data); // before: a reentrant write from pauseWriting comes after
          t.write(data);
        } else if (x < 0.68) {
          if (finishing) return;
          paused = true;
          t.pauseReading();
        } else if (x < 0.8) {
          paused = false;
          t.resumeReading();
        } else if (x < 0.84) {
          t.writeEof();
          eofCalled = true;
        } else if (x < 0.87) t.close();
      } catch (e) {
        violations.push(`side ${side}: unexpected throw ${e}`);
      }
    };
    end.finish = (graceful) => {
      const t = end.transport;
      if (!t) return;
      if (paused) t.resumeReading();
      eofCalled = true;
      if (!graceful) end.aborted = true;
      if (!graceful) t.abort();
      else if (r() < 0.5) t.close();
      else if (!t.isClosing() && t.canWriteEof()) t.writeEof();
      else t.close();
    };
    return end;
  };

  const makeFramedEnd = (side: number): End => {
    const end = baseEnd(side, "framed");
    const newFramer = (line: boolean) =>
      line ? new LineFramer({ lineEnding: r() < 0.5 ? "\n" : "\r\n" }) : new LengthPrefixedFramer();
    // Both ends agree on the framer sequence: the sender announces a switch in the frame.
    let sendLine = lineFirst;
    let recvLine = lineFirst;
    let index = 0;
    let writeDone = false;
    let switching = false;
    const framed: FramedProtocol = new FramedProtocol(newFramer(lineFirst), {
      frameReceived(frame, f) {
        const text = dec.decode(frame);
        end.recvItems.push(text);
        if (text.endsWith("S")) {
          recvLine = !recvLine;
          // The line ending is not announced: accept both by using "\n" (strips "\r"? no) —
          // the sender uses the same ending as it tells here.
          f.receiveFramer = text.includes("crlf")
            ? new LineFramer({ lineEnding: "\r\n" })
            : recvLine
            ? new LineFramer({ lineEnding: "\n" })
            : new LengthPrefixedFramer();
        }
        if (r() < 0.2) end.act("frameReceived");
      },
      eofReceived() {
        end.eof = true;
        return r() < 0.7;
      },
    });
    // The first framer's line ending must match both ways: use "\n" for the first one.
    framed.setFramer(lineFirst ? new LineFramer({ lineEnding: "\n" }) : new LengthPrefixedFramer());
    end.protocol = framed;
    end.act = (where) => {
      const x = r();
      if (transportActs(end, x)) return;
      try {
        if (x < 0.6) {
          const n = 1 + Math.floor(r() * 20);
          for (let i = 0; i < n; i++) {
            if (writeDone || framed.transport.isClosing() || switching) return;
            const sw = r() < 0.1;
            const crlf = sw && !sendLine && r() < 0.5;
            const text = `${side}:${index++}:${"x".repeat(Math.floor(r() * 100))}${
              crlf ? "crlf" : ""
            }${sw ? "S" : ""}`;
            if (i === 0) end.events.push(`send@${where}`);
            end.sentItems.push(text); // before: a reentrant send from pauseWriting comes after
            switching = sw; // no reentrant send between a switch frame and the switch
            try {
              framed.sendFrame(enc.encode(text));
            } finally {
              switching = false;
            }
            if (sw) {
              sendLine = !sendLine;
              framed.sendFramer = crlf
                ? new LineFramer({ lineEnding: "\r\n" })
                : sendLine
                ? new LineFramer({ lineEnding: "\n" })
                : new LengthPrefixedFramer();
            }
          }
        } else if (x < 0.68) {
          if (finishing) return;
          end.events.push(`fpause@${where}`);
          framed.pauseReading();
        } else if (x < 0.8) {
          end.events.push(`fresume@${where}`);
          framed.resumeReading();
        } else if (x < 0.84) {
          writeDone = true;
          end.events.push(`fwriteEof@${where}`);
          framed.writeEof();
        } else if (x < 0.87) {
          writeDone = true;
          end.events.push(`fclose@${where}`);
          framed.close();
        }
      } catch (e) {
        violations.push(`side ${side}: framed throw from ${where}: ${e}`);
      }
    };
    end.finish = (graceful) => {
      track(`side ${side} framed.closed`, framed.closed);
      framed.resumeReading();
      writeDone = true;
      if (!graceful) end.aborted = true;
      if (!graceful) framed.transport.abort();
      else if (r() < 0.5) {
        end.events.push("fclose");
        framed.close();
      } else {
        end.events.push("fwriteEof");
        framed.writeEof();
      }
    };
    void newFramer;
    return end;
  };

  const makePacketEnd = (side: number): End => {
    const end = baseEnd(side, "packet");
    let index = 0;
    let ended = false;
    const conn = new PacketConnection({
      extensions: extensions[side],
      maxInFlight: 1 + Math.floor(r() * 20),
      maxConcurrentHandlers: 1 + Math.floor(r() * 4),
      maxQueuedRequests: 1 + Math.floor(r() * 50),
      closeTimeout: 50,
      onHandlerError: () => {},
      requestHandler: (_type, _flags, payload) => {
        end.recvItems.push(dec.decode(payload));
        const y = r();
        if (y < 0.1) end.act("handler");
        if (y < 0.3) return new Promise((res) => later(() => res(payload), Math.floor(r() * 3)));
        if (y < 0.35) throw new Error("handler fails");
        return payload;
      },
    });
    track(`side ${side} closed`, conn.closed);
    end.protocol = conn;
    end.act = (where) => {
      const x = r();
      if (transportActs(end, x)) return;
      if (x < 0.6) {
        const n = 1 + Math.floor(r() * 10);
        for (let i = 0; i < n; i++) {
          if (ended) return;
          const text = `${side}:${index++}`;
          const opts: {
            payload: string;
            timeout?: number;
            channel?: number;
            signal?: AbortSignal;
          } = { payload: text };
          if (r() < 0.1) opts.timeout = Math.floor(r() * 5);
          if (extensions[0] && extensions[1] && r() < 0.2) opts.channel = 1 + Math.floor(r() * 3);
          if (r() < 0.05) {
            const ac = new AbortController();
            opts.signal = ac.signal;
            later(() => ac.abort(), Math.floor(r() * 3));
          }
          end.sentItems.push(text);
          const p = conn.submit(1, opts);
          track(`side ${side} submit ${text} from ${where}`, p);
          p.then((resp) => {
            if (resp.ok && dec.decode(resp.payload) !== text) {
              violations.push(`side ${side}: response to ${text} is ${dec.decode(resp.payload)}`);
            }
          }, () => {});
        }
      } else if (x < 0.68) {
        conn.endRequests();
        ended = true;
      } else if (x < 0.75) {
        ended = true;
        track(`side ${side} close() from ${where}`, conn.close());
      } else if (x < 0.77) {
        ended = true;
        end.aborted = true;
        conn.abort();
      }
    };
    end.finish = (graceful) => {
      ended = true;
      if (!graceful) end.aborted = true;
      if (!graceful) conn.abort();
      else track(`side ${side} final close()`, conn.close());
    };
    return end;
  };

  for (let side = 0; side < 2; side++) {
    const kind = kinds[side];
    ends.push(
      kind === "framed"
        ? makeFramedEnd(side)
        : kind === "packet"
        ? makePacketEnd(side)
        : makeBytesEnd(side, kind),
    );
  }
  const chaos = r() < 0.7;
  const wrapped = ends.map((e) => wrap(e, e.protocol, chaos));
  const options = limits || backend === "tcp-linger"
    ? { writeBufferLimits: limits, lingerTimeout: backend === "tcp-linger" ? 2000 : undefined }
    : undefined;
  let transports: StreamTransport[];
  if (backend === "memory") {
    transports = createMemoryTransportPair(wrapped[0], wrapped[1], {
      capacity: 1 + Math.floor(r() * 100000),
      transport: options,
    });
  } else {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await accepted;
    listener.close();
    transports = [
      new StreamTransport(client, wrapped[0], options),
      new StreamTransport(server, wrapped[1], options),
    ];
  }
  for (const t of transports) track("transport.closed", t.closed);

  const steps = 5 + Math.floor(r() * 30);
  for (let i = 0; i < steps; i++) {
    const end = pick(ends);
    const how = r();
    if (how < 0.5) end.act("main");
    else if (how < 0.7) queueMicrotask(() => !stopped && end.act("microtask"));
    else later(() => end.act("timer"), Math.floor(r() * 3));
    if (r() < 0.3) await Promise.resolve();
    if (r() < 0.2) await tick();
  }
  const graceful = r() < 0.6;
  finishing = true;
  for (const end of ends) {
    if (r() < 0.5) await tick();
    end.finish(graceful);
  }

  // Wait for both ends, with a watchdog (a hang is a finding).
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const hung = await Promise.race([
    Promise.all(transports.map((t) => t.closed)).then(() => false),
    new Promise<boolean>((res) => watchdog = setTimeout(() => res(true), 3000)),
  ]);
  clearTimeout(watchdog);
  if (hung) {
    violations.push(
      `hang: transports not closed (${
        ends.map((e) => `${e.kind}:${e.events.slice(-6).join(",")}`).join(" | ")
      })`,
    );
    for (const t of transports) t.abort();
    await Promise.all(transports.map((t) => t.closed));
  }
  for (let i = 0; i < 5; i++) await tick();
  // Let tracked promises settle (with a bound).
  for (let i = 0; i < 300 && tracked.some((e) => !e.settled); i++) {
    await new Promise((res) => setTimeout(res, 1));
  }
  stopped = true;
  for (const id of timers) clearTimeout(id);
  for (const e of tracked) if (!e.settled) violations.push(`pending: ${e.name}`);

  for (const end of ends) {
    if (end.lost !== 1) {
      violations.push(`side ${end.side} (${end.kind}): connectionLost x${end.lost}`);
    }
    const t = end.transport;
    if (t && t.getWriteBufferSize() !== 0) {
      violations.push(
        `side ${end.side} (${end.kind}): write buffer ${t.getWriteBufferSize()} at end`,
      );
    }
  }
  // Data: what each side received is a prefix of what the other sent; all of it after EOF.
  for (const end of ends) {
    const peer = ends[1 - end.side];
    if (end.kind === "packet") {
      // Requests served: distinct, from what the peer sent (channel order may interleave).
      const seen = new Set<string>();
      const sent = new Set(peer.sentItems);
      for (const item of end.recvItems) {
        if (seen.has(item)) violations.push(`side ${end.side}: request ${item} served twice`);
        if (!sent.has(item)) violations.push(`side ${end.side}: request ${item} never sent`);
        seen.add(item);
      }
      continue;
    }
    if (end.kind === "framed") {
      if (end.lostError?.name === "TruncatedFrameError" && !peer.aborted) {
        violations.push(`side ${end.side}: ${end.lostError.message} (the peer did not abort)`);
      }
      const got = end.recvItems;
      const sent = peer.sentItems;
      for (let i = 0; i < got.length; i++) {
        if (got[i] !== sent[i]) {
          violations.push(
            `side ${end.side}: frame ${i} is ${got[i].slice(0, 40)}, sent ${sent[i]?.slice(0, 40)}`,
          );
          break;
        }
      }
      if (got.length > sent.length) violations.push(`side ${end.side}: more frames than sent`);
      if (end.eof && !peer.aborted && got.length !== sent.length) {
        violations.push(`side ${end.side}: EOF after ${got.length} of ${sent.length} frames`);
      }
      continue;
    }
    const got = end.recvBytes.view();
    const sent = peer.sentBytes.view();
    if (got.length > sent.length) {
      violations.push(`side ${end.side}: got ${got.length} > sent ${sent.length}`);
    }
    for (let i = 0; i < Math.min(got.length, sent.length); i++) {
      if (got[i] !== sent[i]) {
        violations.push(`side ${end.side}: byte ${i} differs`);
        break;
      }
    }
    const sure = peer.confirmed >= 0 ? peer.confirmed : sent.length;
    if (
      end.eof && !peer.aborted && end.kind !== "stream" &&
      (got.length < sure || (peer.confirmed < 0 && got.length !== sent.length))
    ) {
      violations.push(
        `side ${end.side} (${end.kind}): EOF after ${got.length} of ${sent.length} bytes`,
      );
    }
  }
  if (Deno.env.get("CX_DEBUG")) {
    for (const e of ends) {
      console.log(
        e.side,
        e.kind,
        e.events.join(" "),
        "sent",
        e.sentBytes.length,
        e.sentItems.length,
        "recv",
        e.recvBytes.length,
        e.recvItems.length,
      );
    }
  }
  return {
    seed,
    backend,
    kinds: kinds.join("/"),
    violations,
    lost: ends.map((e) =>
      e.lostError ? `${e.lostError.name}:${e.lostError.message.slice(0, 40)}` : "-"
    ),
  };
}

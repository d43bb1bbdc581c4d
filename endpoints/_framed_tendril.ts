import {
  FramedProtocol,
  type FramedProtocolOptions,
  type FrameHandler,
} from "../framing/framed_protocol.ts";
import type { FramingError } from "../framing/errors.ts";
import type { Decoder, Encoder, Framer } from "../framing/framer.ts";
import { TransportError } from "../transport/errors.ts";
import { StreamTransport } from "../transport/stream_transport.ts";
import { asWrapper, type Wrapper, type WrapperChain } from "./wrappers.ts";
import {
  type Acceptor,
  type Application,
  RejectConnection,
  type Tendril,
  type TendrilFramers,
} from "./tendril.ts";

/** What became of a new tendril. */
export type AcceptOutcome = "accepted" | "rejected" | "failed" | "lost";

/**
 * A tendril over a {@linkcode FramedProtocol}, for TCP and UDP alike: reading starts paused,
 * the acceptor makes the application (or refuses), then frames flow to the application.
 */
export class FramedTendril<F> implements Tendril<F> {
  readonly proto: "tcp" | "udp";
  /** The protocol to give the transport. */
  readonly framed: FramedProtocol<F>;
  readonly #outcome = Promise.withResolvers<AcceptOutcome>();
  readonly #side: "client" | "server";
  /** Where errors nobody else hears of go (the manager's `onError`). */
  readonly #onError: (error: Error) => void;
  #application: Application<F> | undefined;
  #lost: { error: Error | undefined } | undefined;
  /** Whether the transport's writing is paused: what an application made later hears first. */
  #writingPaused = false;
  /** Called as the application is made, before it hears a pause in force (a UDP peer's hook). */
  onApplication: (() => void) | undefined;

  /**
   * @param proto The network protocol.
   * @param framer The initial framer of both directions.
   * @param acceptor Makes the application once the transport is connected.
   * @param options Options of the framed protocol.
   * @param side Whether we accepted the connection (`"server"`) or opened it (`"client"`):
   * what `wrap()` tells the wrapper.
   * @param onError Gets an accepted connection's acceptor failure and an application's
   * `closed()` that threw after a loss during its acceptor (the manager's `onError`).
   */
  constructor(
    proto: "tcp" | "udp",
    framer: Framer<F>,
    acceptor: Acceptor<F>,
    options?: FramedProtocolOptions<F>,
    side?: "client" | "server",
    onError?: (error: Error) => void,
  ) {
    this.proto = proto;
    this.#side = side ?? "server";
    this.#onError = onError ?? (() => {});
    const handler: FrameHandler<F> = {
      connectionMade: (framed) => {
        framed.pauseReading();
        this.#accept(acceptor);
      },
      frameReceived: (frame) => this.#application!.frameReceived(frame),
      pauseWriting: () => {
        this.#writingPaused = true;
        this.#application?.pauseWriting();
      },
      resumeWriting: () => {
        this.#writingPaused = false;
        this.#application?.resumeWriting();
      },
      connectionLost: (error) => {
        this.#lost = { error };
        this.#outcome.resolve("lost");
        this.#application?.closed(error);
      },
      limitExceeded: (error) => this.#application?.limitExceeded?.(error),
    };
    // Read when the framer rejects bytes: the hook exists while the application has one.
    const answer = (error: FramingError): void => this.#application!.frameError!(error);
    Object.defineProperty(handler, "frameError", {
      get: () => this.#application?.frameError === undefined ? undefined : answer,
    });
    this.framed = new FramedProtocol<F>(framer, handler, options);
  }

  /** How the acceptor decided; `"lost"` when the connection ended before it did. */
  get outcome(): Promise<AcceptOutcome> {
    return this.#outcome.promise;
  }

  get application(): Application<F> | undefined {
    return this.#application;
  }

  get localAddress(): Deno.NetAddr {
    return this.framed.transport.getExtraInfo("sockname") as Deno.NetAddr;
  }

  get remoteAddress(): Deno.NetAddr {
    return this.framed.transport.getExtraInfo("peername") as Deno.NetAddr;
  }

  get framers(): TendrilFramers<F> {
    return { send: this.framed.sendFramer, recv: this.framed.receiveFramer };
  }

  set framers(value: TendrilFramers<F>) {
    this.framed.sendFramer = value.send;
    this.framed.receiveFramer = value.recv;
  }

  setFramer(framer: Framer<F>): void {
    this.framed.setFramer(framer);
  }

  get sendFramer(): Encoder<F> {
    return this.framed.sendFramer;
  }

  set sendFramer(framer: Encoder<F>) {
    this.framed.sendFramer = framer;
  }

  get recvFramer(): Decoder<F> {
    return this.framed.receiveFramer;
  }

  set recvFramer(framer: Decoder<F>) {
    this.framed.receiveFramer = framer;
  }

  get closed(): Promise<Error | undefined> {
    return this.framed.closed;
  }

  sendFrame(frame: F): void {
    this.framed.sendFrame(frame);
  }

  close(): void {
    this.framed.close();
  }

  // Not async: what cannot be wrapped now throws at once, as the contract says.
  wrap(wrapper: Wrapper | WrapperChain): Promise<void> {
    const transport = this.framed.transport;
    if (this.proto !== "tcp" || !(transport instanceof StreamTransport)) {
      throw new TransportError(
        `Cannot wrap a ${this.proto} tendril: only a TCP tendril has a byte stream to wrap`,
      );
    }
    const wrap = asWrapper(wrapper)!;
    const side = this.#side;
    return transport.wrapChannel((channel, extra, signal) =>
      wrap(channel, { side, signal, extra })
    );
  }

  async #accept(acceptor: Acceptor<F>): Promise<void> {
    let application: Application<F>;
    try {
      application = await acceptor(this);
    } catch (error) {
      const rejected = error instanceof RejectConnection;
      this.#outcome.resolve(rejected ? "rejected" : "failed");
      const failure = error instanceof Error ? error : new Error(String(error));
      // An accepted connection has no caller to throw to (a connect() rejects with it).
      if (!rejected && this.#side === "server") this.#onError(failure);
      if (this.#lost) return;
      // A refusal closes gracefully, so what the acceptor sent first (a "421 busy") goes out.
      if (rejected) this.framed.transport.close();
      else this.framed.transport.abort(failure);
      return;
    }
    this.#application = application;
    if (this.#lost) {
      try {
        application.closed(this.#lost.error);
      } catch (error) {
        // After the loss: a throw here would be an unhandled rejection, which ends the process.
        this.#onError(error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    this.#outcome.resolve("accepted");
    this.onApplication?.();
    if (this.#writingPaused) {
      try {
        application.pauseWriting();
      } catch (error) {
        this.framed.transport.abort(error instanceof Error ? error : new Error(String(error)));
        return;
      }
    }
    this.framed.resumeReading();
  }
}

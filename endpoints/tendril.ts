/**
 * Tendril's model: a connection ("tendril") carries frames through its framers to an
 * {@linkcode Application}; managers accept and open tendrils over TCP or UDP.
 *
 * @module
 */

import type { DeadlineError } from "../transport/errors.ts";
import type { FramingError } from "../framing/errors.ts";
import type { Decoder, Encoder, Framer } from "../framing/framer.ts";
import type { Wrapper, WrapperChain } from "./wrappers.ts";

/** The send and receive framers of a tendril. */
export interface TendrilFramers<F> {
  /** Encodes the frames the application sends. */
  send: Encoder<F>;
  /** Decodes the bytes the peer sends into frames. */
  recv: Decoder<F>;
}

/**
 * One logical connection in Tendril's model: a TCP connection, or a UDP peer (all datagrams
 * from one remote address). Frames go through its framers, which may be replaced at any time
 * — from the acceptor, or from inside `frameReceived` — without losing a byte.
 *
 * @typeParam F The frame type.
 */
export interface Tendril<F = Uint8Array> {
  /** `"tcp"`, `"udp"`, or the name a user's manager was registered under. */
  readonly proto: string;
  /** The local address of the connection. */
  readonly localAddress: Deno.NetAddr;
  /** The remote address of the connection. */
  readonly remoteAddress: Deno.NetAddr;
  /** The application, once the acceptor made it. */
  readonly application: Application<F> | undefined;
  /** The framers of both directions; assign a new pair to replace both. */
  framers: TendrilFramers<F>;
  /** Uses one framer for both directions. */
  setFramer(framer: Framer<F>): void;
  /** The framer of the sending direction. */
  sendFramer: Encoder<F>;
  /** The framer of the receiving direction. */
  recvFramer: Decoder<F>;
  /** Encodes `frame` with the send framer and sends it. */
  sendFrame(frame: F): void;
  /** Closes the connection (gracefully for TCP); the application's `closed()` follows. */
  close(): void;
  /**
   * Applies a wrapper to the live connection (Tendril's `wrap()`): from an acceptor, say, to
   * start TLS on the connections it chooses (`await tendril.wrap(tls({ cert, key }))`; an
   * outgoing tendril's acceptor gives client options). Frames sent meanwhile wait for it.
   *
   * @param wrapper The wrapper or chain; it runs as on an accepted (`"server"`) or opened
   * (`"client"`) connection.
   * @returns Resolves once the wrapped channel is in use.
   * @throws {TransportError} For a UDP tendril (no byte stream to wrap), or when the connection
   * cannot be wrapped now (closing, or a read in flight: wrap from the acceptor, before frames
   * flow); as a rejection when the wrapper fails, which also closes the connection.
   */
  wrap(wrapper: Wrapper | WrapperChain): Promise<void>;
  /** Resolves when the connection is closed, with the error that closed it, if any. */
  readonly closed: Promise<Error | undefined>;
}

/**
 * The application state of one tendril (Tendril's `Application`): subclass it, implement
 * `frameReceived`, and return an instance from an acceptor.
 *
 * `closed(error)` is called exactly once, when the connection ends for any reason — the peer
 * closed it (`undefined`), the application closed it (`undefined`), or an error ended it.
 *
 * @typeParam F The frame type.
 *
 * @example A line echo application
 * ```ts
 * import { Application, type Tendril } from "@plexus/net/endpoints";
 *
 * class Echo extends Application {
 *   frameReceived(line: Uint8Array): void {
 *     this.sendFrame(line);
 *   }
 * }
 * const acceptor = (tendril: Tendril) => new Echo(tendril);
 * ```
 */
export abstract class Application<F = Uint8Array> {
  /** The connection this application serves (Tendril's `parent`). */
  readonly tendril: Tendril<F>;

  /**
   * Creates the application of a tendril (call it from an acceptor).
   *
   * @param tendril The connection this application serves.
   */
  constructor(tendril: Tendril<F>) {
    this.tendril = tendril;
  }

  /** Called with each frame received. */
  abstract frameReceived(frame: F): void;

  /** Sends a frame on the connection. */
  sendFrame(frame: F): void {
    this.tendril.sendFrame(frame);
  }

  /** Closes the connection. */
  close(): void {
    this.tendril.close();
  }

  /**
   * Implement to answer bytes the receive framer rejected (a frame too long, corrupt, or cut
   * off by the end of stream): a frame sent from here tells the peer why, then the connection
   * closes gracefully and `closed()` gets the error (see `FrameHandler.frameError`). Without
   * it such a connection is aborted at once.
   *
   * @param error What the framer rejected, naming the problem.
   */
  frameError?(error: FramingError): void;

  /**
   * Implement to tell a TCP peer cut by a frame deadline (a frame under way past its
   * `frameTimeout`: a peer that trickles bytes) why: a frame sent from here goes out before
   * the connection closes gracefully, and `closed()` gets the {@linkcode DeadlineError} (see
   * `FrameHandler.limitExceeded`).
   *
   * @param error The deadline that ran out.
   */
  limitExceeded?(error: DeadlineError): void;

  /**
   * Called when the connection's write buffer goes over its high watermark (asyncio's
   * `pause_writing`): stop sending until {@linkcode Application.resumeWriting}. A UDP tendril
   * hears it when the shared socket's buffer fills. An application made while writing is
   * paused hears it as soon as the acceptor returns. Does nothing by default.
   */
  pauseWriting(): void {}

  /** Called when the write buffer has drained to its low watermark. Does nothing by default. */
  resumeWriting(): void {}

  /**
   * Called once when the connection has ended. Does nothing by default.
   *
   * @param _error Why it ended, or `undefined` for an orderly end.
   */
  closed(_error: Error | undefined): void {}
}

/**
 * Makes the application of a new tendril, or refuses the connection by throwing
 * {@linkcode RejectConnection}. It may set the tendril's framers (or send a greeting) first.
 * It may be async; no frame is delivered until it returns.
 */
export type Acceptor<F = Uint8Array> = (
  tendril: Tendril<F>,
) => Application<F> | Promise<Application<F>>;

/**
 * Thrown by an acceptor to refuse a connection: a TCP connection is closed, a UDP peer is
 * ignored. Managers count refused connections.
 *
 * @example Refuse peers from outside the loopback network
 * ```ts
 * import { Application, RejectConnection, type Tendril } from "@plexus/net/endpoints";
 *
 * class Echo extends Application {
 *   frameReceived(frame: Uint8Array): void {
 *     this.sendFrame(frame);
 *   }
 * }
 * function acceptor(tendril: Tendril): Application {
 *   if (!tendril.remoteAddress.hostname.startsWith("127.")) {
 *     throw new RejectConnection(`${tendril.remoteAddress.hostname} is not local`);
 *   }
 *   return new Echo(tendril);
 * }
 * ```
 */
export class RejectConnection extends Error {
  /**
   * Creates the refusal.
   *
   * @param message Why the connection is refused (default `Connection rejected`).
   */
  constructor(message?: string) {
    super(message ?? "Connection rejected");
    this.name = "RejectConnection";
  }
}

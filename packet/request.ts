import type { PacketHandlerResult, PacketRequestContext } from "./types.ts";

/**
 * A typed request (the original's `BaseRequest`): a class with a static `rqType` and a static
 * `decode(payload, flags)`, whose instances know how to `encode()` themselves, how to
 * `decodeResponse()` the answer, and how to `fulfil()` themselves on the serving side.
 *
 * Send one with {@linkcode PacketConnection.request}; serve them with a
 * {@linkcode PacketRequestRegistry}.
 *
 * @typeParam R What the response decodes to.
 * @typeParam C The context `fulfil()` gets on the serving side (the object that serves).
 *
 * @example A request that adds to a running total
 * ```ts
 * import { PacketRequest } from "@plexus/net/packet";
 *
 * class Totals {
 *   sum = 0;
 * }
 * class AddRequest extends PacketRequest<number, Totals> {
 *   static readonly rqType = 0;
 *   constructor(readonly amount: number) {
 *     super();
 *   }
 *   static decode(payload: Uint8Array): AddRequest {
 *     return new AddRequest(Number(new TextDecoder().decode(payload)));
 *   }
 *   encode(): string {
 *     return String(this.amount);
 *   }
 *   override decodeResponse(payload: Uint8Array): number {
 *     return Number(new TextDecoder().decode(payload));
 *   }
 *   fulfil(totals: Totals): string {
 *     totals.sum += this.amount;
 *     return String(totals.sum);
 *   }
 * }
 * console.assert(new AddRequest(2).rqType === 0);
 * ```
 */
export abstract class PacketRequest<R = Uint8Array, C = unknown> {
  /** The request flags sent with it. */
  flags: number = 0;

  /**
   * The request type: the class's static `rqType`.
   *
   * @throws {TypeError} When the class has no static `rqType` number.
   */
  get rqType(): number {
    const rqType = (this.constructor as { rqType?: unknown }).rqType;
    if (typeof rqType !== "number") {
      throw new TypeError(
        `Cannot send ${this.constructor.name}: the class has no static rqType number`,
      );
    }
    return rqType;
  }

  /**
   * Encodes the request payload (the original's `bytes(rq)`).
   *
   * @returns The payload; a string is sent as UTF-8.
   */
  abstract encode(): Uint8Array | string;

  /**
   * Decodes an ok response (the original's `decode_response_payload`). The default returns
   * the payload bytes.
   *
   * @param payload The response payload.
   * @param _flags The response flags.
   * @returns The decoded response.
   */
  decodeResponse(payload: Uint8Array, _flags: number): R {
    return payload as R;
  }

  /**
   * Performs the request on the serving side. Throw to fail it (a `RemoteError` to choose the
   * failure's flags and payload).
   *
   * @param context The serving object given to {@linkcode PacketRequestRegistry.handler}.
   * @param request The channel, tag, connection and cancellation signal.
   * @returns The response, as a request handler's result.
   */
  abstract fulfil(
    context: C,
    request: PacketRequestContext,
  ): PacketHandlerResult | Promise<PacketHandlerResult>;
}

/**
 * A request class as a {@linkcode PacketRequestRegistry} needs it: its `rqType` and a static
 * `decode` that rebuilds a request from a received payload and flags (the original's
 * `from_request_payload`).
 *
 * @typeParam C The context the requests' `fulfil()` gets.
 *
 * @example Any PacketRequest subclass with the two statics fits
 * ```ts
 * import { PacketRequest, type PacketRequestType } from "@plexus/net/packet";
 *
 * class Ping extends PacketRequest {
 *   static readonly rqType = 7;
 *   static decode(): Ping {
 *     return new Ping();
 *   }
 *   encode(): Uint8Array {
 *     return new Uint8Array(0);
 *   }
 *   fulfil(): string {
 *     return "pong";
 *   }
 * }
 * const type: PacketRequestType = Ping;
 * ```
 */
export interface PacketRequestType<C = unknown> {
  /** The request type. */
  readonly rqType: number;
  /**
   * Rebuilds a request from what was received.
   *
   * @param payload The request payload.
   * @param flags The request flags.
   */
  decode(payload: Uint8Array, flags: number): PacketRequest<unknown, C>;
  /** The class name, for messages. */
  readonly name: string;
}

/**
 * The Plexus extensions to the cs.packetstream protocol, and how they are negotiated.
 *
 * Every extension packet is an ordinary request of one reserved user rq_type,
 * {@linkcode EXTENSION_RQ_TYPE}, with the operation in its flags:
 *
 * | flags | operation    | payload                          | answer                          |
 * | ----- | ------------ | -------------------------------- | ------------------------------- |
 * | 0     | offer        | `plexus-ext/1?`                  | ok, payload `plexus-ext/1!`     |
 * | 1     | cancel       | BSUInt(channel) BSUInt(tag)      | ok, empty                       |
 * | 2     | ping         | empty                            | ok, empty                       |
 * | 3     | tracecontext | empty (may we send it?)          | ok when the peer takes it       |
 * | 4     | traced       | a request and its trace context  | the wrapped request's response  |
 *
 * Only the offer is ever sent to a peer that has not accepted: a cs.packetstream peer answers
 * it as it answers any request (`no request handler`, `exception during handler`, or whatever
 * its handler returns; its handler runs once with rq_type `0x504c5853`), and anything but `ok`
 * with `plexus-ext/1!` means "no", and so does no answer within `offerTimeout`.
 *
 * Trace context (operations 3 and 4, see `packet/telemetry.ts`): a side with telemetry asks
 * once the peer accepted its offer; a peer with telemetry answers ok, and from then on our
 * requests may go as operation 4 on their own channel and tag, wrapping the request and its
 * W3C trace context, each answered as the request it wraps (it is one of the application's
 * requests, subject to ERQ and every other check).
 *
 * Cancels and pings are sent after our ERQ too (until our EOF): ERQ ends the application's
 * requests, and a Plexus peer answers extension requests before it looks at ERQ.
 *
 * @module
 */

import { decodeBSUInt, encodeBSUInt } from "../framing/varint.ts";
import type { PacketResponse } from "./types.ts";

/**
 * The user rq_type reserved for the Plexus extensions (`0x504c5853`, "PLXS"; on the wire it is
 * this plus 1). A connection never passes it to its request handler, and `submit()` refuses it.
 *
 * @example It is a plain number
 * ```ts
 * import { EXTENSION_RQ_TYPE } from "@plexus/net/packet";
 *
 * console.assert(EXTENSION_RQ_TYPE === 0x504c5853);
 * ```
 */
export const EXTENSION_RQ_TYPE = 0x504c5853;

/** The extension operations, sent as the request flags. */
export const ExtensionOp = { offer: 0, cancel: 1, ping: 2, traceContext: 3, traced: 4 } as const;

const encoder = new TextEncoder();

/** The offer's payload. */
export const OFFER: Uint8Array = encoder.encode("plexus-ext/1?");

/** The acceptance's payload. */
export const ACCEPT: Uint8Array = encoder.encode("plexus-ext/1!");

/** Whether `payload` equals `expected`. */
export function sameBytes(payload: Uint8Array, expected: Uint8Array): boolean {
  if (payload.byteLength !== expected.byteLength) return false;
  for (let i = 0; i < payload.byteLength; i++) if (payload[i] !== expected[i]) return false;
  return true;
}

/** The payload of a cancel: which request. */
export function encodeCancel(channel: number, tag: number): Uint8Array {
  const a = encodeBSUInt(channel);
  const b = encodeBSUInt(tag);
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/** Reads a cancel's payload; `undefined` when malformed. */
export function decodeCancel(payload: Uint8Array): { channel: number; tag: number } | undefined {
  try {
    const channel = decodeBSUInt(payload);
    if (!channel) return undefined;
    const tag = decodeBSUInt(payload, channel.length);
    if (!tag || channel.length + tag.length !== payload.byteLength) return undefined;
    return { channel: channel.value, tag: tag.value };
  } catch {
    return undefined;
  }
}

/** An answer to an extension request: ok or not, and the payload. */
export type ExtensionAnswer = [ok: boolean, payload?: Uint8Array | string];

/**
 * One connection's side of the negotiation: whether we offer, whether the peer accepted our
 * offer (then we may use the extensions), and whether we accepted the peer's (then we honour
 * its extension requests and its channels other than 0).
 */
export class Extensions {
  /** Whether we offer the extensions, and accept an offer. */
  readonly wanted: boolean;
  /** Whether the peer accepted our offer. */
  on = false;
  /** Whether we accepted the peer's offer. */
  peerOffered = false;
  /** Whether the offer went unanswered for `offerTimeout` (and so counts as refused). */
  timedOut = false;
  /** Whether we take the peer's trace context when it asks (our telemetry is on). */
  takesTraceContext = false;
  /** Whether we agreed to take the peer's trace context (its requests may come traced). */
  peerTraces = false;
  #isDecided = false;
  readonly #decided = Promise.withResolvers<boolean>();

  constructor(wanted: boolean) {
    this.wanted = wanted;
    if (!wanted) this.#decide(false);
  }

  /** Resolves to whether the peer accepted our offer. */
  get decided(): Promise<boolean> {
    return this.#decided.promise;
  }

  /**
   * Reads the peer's answer to our offer; returns whether the extensions are on now. An answer
   * after the offer timed out changes nothing.
   *
   * @param hold Leave `decided` pending when accepted: more is negotiated first (trace
   * context), and {@linkcode Extensions.settle} resolves it.
   */
  accepted(response: PacketResponse, hold = false): boolean {
    if (this.#isDecided) return false;
    this.on = response.ok && sameBytes(response.payload, ACCEPT);
    if (!this.on || !hold) this.#decide(this.on);
    return this.on;
  }

  /** What was held back after the acceptance is negotiated: `decided` resolves. */
  settle(): void {
    this.#decide(this.on);
  }

  /** The offer (or what was negotiated after it) went unanswered too long. */
  timeOut(): void {
    if (this.#isDecided) return;
    if (!this.on) this.timedOut = true;
    this.#decide(this.on);
  }

  /** No answer will come (the connection ended, or the peer sent EOF). */
  fail(): void {
    this.#decide(this.on);
  }

  #decide(on: boolean): void {
    if (this.#isDecided) return;
    this.#isDecided = true;
    this.#decided.resolve(on);
  }

  /**
   * Answers an extension request from the peer.
   *
   * @param cancel Cancels the peer's request on `channel` with `tag`.
   */
  answer(
    packet: { readonly flags: number; readonly payload: Uint8Array },
    cancel: (channel: number, tag: number) => void,
  ): ExtensionAnswer {
    const { flags, payload } = packet;
    if (flags === ExtensionOp.offer) {
      if (!sameBytes(payload, OFFER)) return [false, "unsupported extension version"];
      this.peerOffered = true;
      return [true, ACCEPT];
    }
    if (!this.peerOffered) return [false, "extensions not offered"];
    if (flags === ExtensionOp.ping) return [true];
    if (flags === ExtensionOp.traceContext) {
      if (!this.takesTraceContext) return [false, "trace context not taken"];
      this.peerTraces = true;
      return [true];
    }
    if (flags === ExtensionOp.traced) return [false, "trace context not agreed"];
    if (flags === ExtensionOp.cancel) {
      const target = decodeCancel(payload);
      if (!target) return [false, "malformed cancel"];
      cancel(target.channel, target.tag);
      return [true];
    }
    return [false, `unknown extension operation ${flags}`];
  }
}

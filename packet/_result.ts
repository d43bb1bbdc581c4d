/**
 * Turns what a request handler returned into response flags and payload, by the original's
 * rules (see `PacketHandlerResult`).
 *
 * @module
 */

import type { PacketHandlerResult } from "./types.ts";

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/** The largest user flags a response can carry: the wire field is `((flags << 1) | ok) << 2`. */
const MAX_RESPONSE_FLAGS = Math.floor((Number.MAX_SAFE_INTEGER - 7) / 8);

/**
 * The response flags of a handler result, checking the whole result (call it before
 * {@linkcode resultPayload}).
 *
 * @throws {TypeError} When the result is none of the allowed forms, or its flags are no
 * non-negative safe integer small enough to shift.
 */
export function resultFlags(result: PacketHandlerResult): number {
  if (result === undefined || result === null) return 0;
  if (result instanceof Uint8Array || typeof result === "string") return 0;
  if (typeof result === "number") return checkFlags(result);
  if (Array.isArray(result) && result.length === 2) {
    const flags = checkFlags(result[0]);
    if (typeof result[1] !== "string") toBytes(result[1]); // throws for a bad payload
    return flags;
  }
  throw new TypeError(
    `Cannot send response: a request handler returned ${describe(result)}; expected nothing, ` +
      "a number, bytes, a string or [flags, bytes]",
  );
}

/** The response payload of a handler result that {@linkcode resultFlags} accepted. */
export function resultPayload(result: PacketHandlerResult): Uint8Array {
  if (result instanceof Uint8Array) return result;
  if (typeof result === "string") return encodeText(result);
  if (Array.isArray(result)) return toBytes(result[1]);
  return EMPTY;
}

/**
 * UTF-8 of `text` as the original encodes a `str` (`errors="xmlcharrefreplace"`): a lone
 * surrogate, which UTF-8 cannot carry, becomes a decimal character reference (`&#55357;`)
 * rather than U+FFFD.
 */
export function encodeText(text: string): Uint8Array {
  if (text.isWellFormed()) return encoder.encode(text);
  return encoder.encode(
    text.replace(/[\uD800-\uDFFF]/gu, (unit) => `&#${unit.charCodeAt(0)};`),
  );
}

/** Bytes of a payload given as bytes or text (see {@linkcode encodeText}). */
export function toBytes(payload: Uint8Array | string | undefined): Uint8Array {
  if (payload === undefined) return EMPTY;
  if (typeof payload === "string") return encodeText(payload);
  if (payload instanceof Uint8Array) return payload;
  throw new TypeError(
    `Cannot send payload: expected a Uint8Array or a string, got ${describe(payload)}`,
  );
}

/** Checks response flags. */
export function checkFlags(flags: unknown): number {
  if (
    typeof flags !== "number" || !Number.isSafeInteger(flags) || flags < 0 ||
    flags > MAX_RESPONSE_FLAGS
  ) {
    throw new TypeError(
      `Cannot send response: flags must be an integer from 0 to ${MAX_RESPONSE_FLAGS}, got ${
        describe(flags)
      }`,
    );
  }
  return flags;
}

function describe(value: unknown): string {
  if (typeof value === "object" && value !== null) return value.constructor?.name ?? "an object";
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

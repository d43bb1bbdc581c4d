/**
 * The one check of tinyproto's options, shared by `TinyprotoProtocol` and the tinyproto server
 * and client, so a bad option fails where it is given, not on every connection.
 *
 * @module
 */

import { checkDelay } from "../transport/_delay.ts";
import { DEFAULT_MAX_FRAME_LENGTH } from "./length_prefixed.ts";

/** The largest size tinyproto can accept: bigger ones are always refused. */
export const TINYPROTO_MAX_SIZE = 0xf0ffffff;

/** The default `closeTimeout`: 30 s. */
const DEFAULT_CLOSE_TIMEOUT = 30_000;

/** Tinyproto's options, checked, with their defaults. */
export interface CheckedTinyprotoOptions {
  maxSize: number;
  closeTimeout: number;
}

/**
 * Checks `maxSize` and `closeTimeout`.
 *
 * @param what What is being made, for the error message ("Cannot create tinyproto server").
 * @throws {RangeError} When `maxSize` is not a whole number from 0 to `0xf0ffffff`, or
 * `closeTimeout` is negative or over 2147483647 (and not `Infinity`).
 */
export function checkTinyprotoOptions(
  what: string,
  options: { maxSize?: number; closeTimeout?: number },
): CheckedTinyprotoOptions {
  const maxSize = options.maxSize ?? DEFAULT_MAX_FRAME_LENGTH;
  if (!(Number.isSafeInteger(maxSize) && maxSize >= 0 && maxSize <= TINYPROTO_MAX_SIZE)) {
    throw new RangeError(`${what}: maxSize must be 0 to ${TINYPROTO_MAX_SIZE}, got ${maxSize}`);
  }
  // A timer over 2147483647 ms would fire after 1 ms: the close would abort at once.
  const closeTimeout = checkDelay(
    `${what}: closeTimeout`,
    options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
    0,
    true,
  );
  return { maxSize, closeTimeout };
}

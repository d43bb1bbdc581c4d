/**
 * Durations a timer waits: one check for every timeout, deadline and period option.
 *
 * @module
 */

/** The longest delay a timer can wait (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_DELAY = 2 ** 31 - 1;

/**
 * Checks a duration a timer will wait: a number of milliseconds from `min` to
 * {@linkcode MAX_DELAY} (a longer timer would fire after 1 ms), or `Infinity` for none where
 * `infinity` allows it.
 *
 * @param what What is checked, as the message begins: `Cannot connect: timeout`.
 * @returns The value.
 * @throws {RangeError} `${what} must be a number of milliseconds from ${min} to 2147483647
 * (or Infinity for none), got ${value}`.
 */
export function checkDelay(what: string, value: unknown, min: 0 | 1, infinity: boolean): number {
  if (infinity && value === Infinity) return value;
  if (typeof value !== "number" || !(value >= min && value <= MAX_DELAY)) {
    throw new RangeError(
      `${what} must be a number of milliseconds from ${min} to ${MAX_DELAY}` +
        `${infinity ? " (or Infinity for none)" : ""}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Finds `needle` in `bytes[from..end)`.
 *
 * @returns The index of its first byte in `bytes`, or -1.
 */
export function indexOfSequence(
  bytes: Uint8Array,
  needle: Uint8Array,
  from: number,
  end: number,
): number {
  const n = needle.byteLength;
  const first = needle[0];
  const last = end - n;
  const haystack = bytes.subarray(0, end);
  for (
    let i = haystack.indexOf(first, from);
    i >= 0 && i <= last;
    i = haystack.indexOf(first, i + 1)
  ) {
    let j = 1;
    while (j < n && bytes[i + j] === needle[j]) j++;
    if (j === n) return i;
  }
  return -1;
}

/** UTF-8 bytes of a string, or the bytes themselves. */
export function toBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === "string" ? new TextEncoder().encode(value) : value;
}

/** Checks a limit option: a positive safe integer. */
export function checkLimit(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot create framer: ${name} must be a non-negative safe integer, got ${value}`,
    );
  }
  return value;
}

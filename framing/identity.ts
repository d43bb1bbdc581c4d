import type { Framer } from "./framer.ts";
import type { ReceiveBuffer } from "./receive_buffer.ts";
import type { SendBuffer } from "../transport/send_buffer.ts";

/**
 * No framing: each decode returns every byte buffered so far as one frame, and encoding
 * writes the frame as it is (Tendril's `IdentityFramer`). Frame boundaries follow the reads,
 * so they carry no meaning; use it to pass a stream through, or after a switch to raw bytes.
 *
 * It needs no limit: a frame is never larger than the bytes already received.
 *
 * @example Raw bytes through
 * ```ts
 * import { decodeFrames, encodeFrame, IdentityFramer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(decodeFrames(new IdentityFramer(), new Uint8Array([1, 2, 3])), [new Uint8Array([1, 2, 3])]);
 * assertEquals(encodeFrame(new IdentityFramer(), new Uint8Array([4])), new Uint8Array([4]));
 * ```
 */
export class IdentityFramer implements Framer<Uint8Array> {
  /**
   * Returns all buffered bytes.
   *
   * @param buffer The receive buffer.
   * @returns The bytes, or `undefined` when none are buffered.
   */
  decode(buffer: ReceiveBuffer): Uint8Array | undefined {
    return buffer.length > 0 ? buffer.take(buffer.length) : undefined;
  }

  /**
   * Writes the frame as it is.
   *
   * @param frame The bytes.
   * @param out Where the bytes go.
   */
  encode(frame: Uint8Array, out: SendBuffer): void {
    out.write(frame);
  }
}

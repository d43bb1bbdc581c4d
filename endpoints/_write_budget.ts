/**
 * A server's budget for the write buffers of all its connections: past it, the connections
 * with the largest buffers are cut first.
 *
 * @module
 */

import { WriteBufferOverflowError } from "../transport/errors.ts";
import {
  WRITE_BUDGET,
  type WriteBudget,
  type WriteFlowControl,
} from "../transport/_flow_control.ts";

/**
 * The default budget for the write buffers of all of a server's connections: 64 MiB. With the
 * copies and garbage that come with them, 100 peers that flood without reading stay under
 * 512 MiB of RSS in all (`bench/soak/flood.ts`).
 */
export const DEFAULT_MAX_TOTAL_WRITE_BUFFER = 64 * 1024 * 1024;

/**
 * The default cap on one server connection's write buffer: 32 MiB. It lets one packet of
 * the packet layer's default `maxPacketSize` (16 MiB) through with room to spare, and cuts a
 * peer that does not read well before it can take the server's whole budget.
 */
export const DEFAULT_SERVER_MAX_WRITE_BUFFER = 32 * 1024 * 1024;

/** The {@linkcode WriteBudget} a `Server` shares among its connections' transports. */
export class ServerWriteBudget implements WriteBudget {
  total = 0;
  readonly limit: number;
  readonly #members = new Set<WriteFlowControl>();

  /**
   * @param limit The most bytes all members may buffer together (`Infinity`: no budget).
   * @throws {RangeError} When `limit` is not a number > 0.
   */
  constructor(limit: number = DEFAULT_MAX_TOTAL_WRITE_BUFFER) {
    if (!(limit > 0)) {
      throw new RangeError(`Cannot set maxTotalWriteBuffer: need a number > 0, got ${limit}`);
    }
    this.limit = limit;
  }

  /** The number of members: the connections holding bytes past their high watermarks. */
  get size(): number {
    return this.#members.size;
  }

  join(member: WriteFlowControl): void {
    this.#members.add(member);
  }

  leave(member: WriteFlowControl): void {
    this.#members.delete(member);
  }

  cut(): void {
    // Rare (only past the budget), so a sort is fine here.
    const largest = [...this.#members].sort((a, b) => b.held - a.held);
    for (const member of largest) {
      if (this.total <= this.limit) return;
      // Only members hold bytes past their watermarks; one that left (drained, or ended by an
      // earlier cut's callbacks) has nothing to cut.
      if (!this.#members.has(member)) continue;
      const total = this.total;
      member.cut(
        new WriteBufferOverflowError(
          `Write buffers of ${this.#members.size} connections hold ${total} bytes past their ` +
            `high watermarks, over maxTotalWriteBuffer ${this.limit}; cut the largest, ` +
            `${member.held} bytes: the peer is not reading`,
          { size: total, limit: this.limit },
        ),
      );
      // A member that could not be aborted still stops counting.
      if (this.#members.has(member)) member.clear();
    }
  }
}

/**
 * Returns `options` carrying `budget`: the transport joins it while it holds bytes past its high
 * watermark.
 */
export function withWriteBudget<T extends object>(options: T, budget: WriteBudget): T {
  return { ...options, [WRITE_BUDGET]: budget };
}

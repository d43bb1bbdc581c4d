import { freshBlock } from "../transport/_fresh_memory.ts";
import { LARGE_BLOCK, OVERSIZE, SHRINK_AFTER } from "../transport/_shrink.ts";

/**
 * The smallest free space a read gets: 1 KiB, the transport's first read size. Reads are larger
 * under bulk traffic: the transport's size hint grows to 256 KiB. A quiet framed connection
 * holds a block of 1–2 KiB (4–8 KiB at the 4 KiB of before); measured, packet RPC with 1 and
 * 256 in flight and pipelined frames did not change (interleaved A/B).
 */
export const MIN_READ_SIZE = 1024;

/** The size of the slab small decoded frames are carved from (see `allocate()`). */
const SLAB_SIZE = 64 * 1024;

/**
 * How far a {@linkcode ReceiveBuffer.reserve} hint may grow the storage beyond twice the bytes
 * actually buffered: a peer that announces a large frame gets room for it only as it sends it.
 */
const RESERVE_STEP = 64 * 1024;

/** Options of a {@linkcode ReceiveBuffer}. */
export interface ReceiveBufferOptions {
  /**
   * The smallest free space {@linkcode ReceiveBuffer.getWriteBuffer} hands out for a read.
   *
   * @default {1024}
   */
  minReadSize?: number;
  /**
   * The capacity of the first storage block; with 0 it is sized by the first read. Like any
   * block, it is replaced after a run of reads it is more than four times too large for.
   *
   * @default {0}
   */
  initialCapacity?: number;
  /**
   * Reuse the storage in place: a frame taken stays valid only until the next write to the
   * buffer (the next read), as asyncio's `BufferedProtocol` and Netty's unretained buffers
   * have it, and a steady stream of reads then allocates nothing. By default a region handed
   * out is never written again, so frames stay valid for ever.
   *
   * @default {false}
   */
  reuse?: boolean;
}

/**
 * The bytes received on a connection and not yet decoded: the buffer a framer decodes from.
 * It belongs to the connection, not to the framer, so replacing the framer loses nothing.
 *
 * ```
 *  storage: [ consumed ........ | unconsumed ........ | free ........... ]
 *           0                 start                  end          capacity
 * ```
 *
 * - Framers read `bytes[start + i]` for `i < length` and move `start` forward with
 *   {@linkcode ReceiveBuffer.take} (the frame is a view, kept valid for ever) or
 *   {@linkcode ReceiveBuffer.skip} (the bytes are dropped).
 * - New bytes land in the free tail, either read there directly
 *   ({@linkcode ReceiveBuffer.getWriteBuffer} + {@linkcode ReceiveBuffer.commit}) or copied
 *   with {@linkcode ReceiveBuffer.append}.
 * - A region handed out by `take()` is never written again: when the tail runs short, the
 *   unconsumed bytes move to a fresh storage block and the old one stays with the views. While
 *   no view is out, the storage is reused in place instead. So frames stay valid after the call
 *   that received them returns, without a copy per frame, at the cost of one allocation per
 *   buffer refill (the first block makes glibc keep freed blocks for reuse instead of
 *   returning them to the kernel: see the README's benchmark notes).
 * - With the `reuse` option, taken regions are written again too: frames are then valid only
 *   until the next write, and the storage is reused in place.
 * - Views from {@linkcode ReceiveBuffer.peek} are temporary: valid until the next write.
 *
 * The buffer grows only to hold unconsumed bytes plus one read — or, for a frame in progress
 * longer than a read whose length the decoder cannot announce, twice its bytes so far, so that
 * it is copied a few times rather than on every read (and `minReadSize` more for a block
 * replacing one that small reads used, or one that carries part of such a frame, so later
 * small reads go into its tail; with `reuse`, a quarter read more, so that a block can be
 * reused); framers bound the unconsumed bytes by refusing frames over their limit, so a peer
 * cannot make it grow without bound. It starts empty and sizes reads by the transport's hint,
 * so an idle connection costs little; a block grown for a burst of large reads is replaced by
 * one of the read size after a run of small reads (at once past 1 MiB; unless a frame in
 * progress needs the room), so a connection whose traffic turned small after a burst does not
 * keep it.
 *
 * Frames are views of this connection's memory: don't transfer or detach `frame.buffer`
 * (for example by enqueueing a frame in a byte `ReadableStream`); copy it first. A view keeps
 * its whole storage block alive (up to one read plus the largest frame in it): to keep a small
 * frame for long, keep `frame.slice()` so the block can be freed. (A decoder's
 * {@linkcode ReceiveBuffer.takeCopy} of under 16 KiB is carved from a 64 KiB slab it shares
 * with the connection's other copies.)
 *
 * @example Decode from a buffer by hand
 * ```ts
 * import { ReceiveBuffer } from "@plexus/net/framing";
 * import { assertEquals } from "@std/assert";
 *
 * const buffer = new ReceiveBuffer();
 * buffer.append(new TextEncoder().encode("ab|cd"));
 * const bar = buffer.indexOf(0x7c);
 * const frame = buffer.take(bar);
 * buffer.skip(1);
 * assertEquals(new TextDecoder().decode(frame), "ab");
 * assertEquals(buffer.length, 2);
 * assertEquals(buffer.position, 3);
 * ```
 */
export class ReceiveBuffer {
  #bytes: Uint8Array;
  /**
   * `#bytes.buffer`, kept: `take()` makes each frame's view from it. Measured, a view made
   * from a held ArrayBuffer costs 18 ns against 24 ns through the `.buffer` getter, and
   * `take()` is one of the largest costs of decoding small frames (9–12% of a server).
   */
  #arrayBuffer: ArrayBuffer;
  #start = 0;
  #end = 0;
  #position = 0;
  /** Whether a region was handed out that must not be written again (see `reuse`). */
  #pinned = false;
  /** What `take()` sets `#pinned` to: false when the storage is reused in place. */
  readonly #pins: boolean;
  #reserve = 0;
  /** The stream position `reserve()` was called at: the hint holds only while it is current. */
  #reserveAt = 0;
  /** Reads in a row the block was oversized for (see `SHRINK_AFTER`). */
  #oversizedReads = 0;
  readonly #minRead: number;
  #slab: ArrayBuffer | undefined;
  #slabOffset = 0;
  /** `#bytes.subarray(0, #end)`, cached for indexOf() while neither changes. */
  #view: Uint8Array = new Uint8Array(0);

  /**
   * Creates an empty buffer.
   *
   * @param options The smallest read size and the first capacity.
   */
  constructor(options?: ReceiveBufferOptions) {
    options ??= {};
    this.#minRead = options.minReadSize ?? MIN_READ_SIZE;
    this.#pins = !options.reuse;
    const capacity = options.initialCapacity ?? 0;
    if (!(this.#minRead >= 1) || !(capacity >= 0)) {
      throw new RangeError(
        `Cannot create receive buffer: need minReadSize >= 1 and initialCapacity >= 0, got ${this.#minRead} and ${capacity}`,
      );
    }
    this.#arrayBuffer = new ArrayBuffer(capacity);
    this.#bytes = new Uint8Array(this.#arrayBuffer);
  }

  /** The storage block; the unconsumed bytes are `bytes[start]` to `bytes[end - 1]`. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** The index in {@linkcode ReceiveBuffer.bytes} of the first unconsumed byte. */
  get start(): number {
    return this.#start;
  }

  /** The index in {@linkcode ReceiveBuffer.bytes} just past the last unconsumed byte. */
  get end(): number {
    return this.#end;
  }

  /** The number of unconsumed bytes. */
  get length(): number {
    return this.#end - this.#start;
  }

  /** The stream offset of the first unconsumed byte: how many bytes were consumed so far. */
  get position(): number {
    return this.#position;
  }

  /** The size of the current storage block. */
  get capacity(): number {
    return this.#bytes.byteLength;
  }

  /**
   * Returns the unconsumed byte at `index` (0 is the first).
   *
   * @param index An offset below {@linkcode ReceiveBuffer.length}.
   * @returns The byte, or `undefined` past the end.
   */
  at(index: number): number | undefined {
    return index < this.#end - this.#start ? this.#bytes[this.#start + index] : undefined;
  }

  /**
   * Finds a byte among the unconsumed bytes.
   *
   * @param byte The value to look for.
   * @param from The offset to start at.
   * @returns Its offset from the first unconsumed byte, or -1.
   */
  indexOf(byte: number, from?: number): number {
    from ??= 0;
    const start = this.#start;
    let view = this.#view;
    if (view.byteLength !== this.#end || view.buffer !== this.#bytes.buffer) {
      view = this.#view = this.#bytes.subarray(0, this.#end);
    }
    const i = view.indexOf(byte, start + from);
    return i < 0 ? -1 : i - start;
  }

  /**
   * Returns a temporary view of unconsumed bytes, valid until the buffer is next written to.
   *
   * @param length How many bytes; all of them by default.
   * @param offset Where to start, from the first unconsumed byte.
   */
  peek(length?: number, offset?: number): Uint8Array {
    length ??= this.length;
    offset ??= 0;
    const from = this.#start + offset;
    return this.#bytes.subarray(from, Math.min(from + length, this.#end));
  }

  /**
   * Consumes the next `length` bytes and returns them as a view that stays valid for ever
   * (the region is never written again, unless the buffer was made with `reuse`).
   *
   * @param length How many bytes; at most {@linkcode ReceiveBuffer.length} minus `skip`.
   * @param skip Bytes to drop first (a header): `take(n, 4)` is `skip(4)` then `take(n)`.
   * @throws {RangeError} When `length` or `skip` is negative, or fewer bytes are buffered.
   */
  take(length: number, skip?: number): Uint8Array {
    skip ??= 0;
    const consumed = length + skip;
    const start = this.#start + skip;
    if (!(length >= 0 && skip >= 0 && consumed <= this.#end - this.#start)) {
      this.#outOfRange("take", length, skip);
    }
    this.#start = start + length;
    this.#position += consumed;
    this.#pinned = this.#pins;
    // Cheaper than subarray(); the storage always starts at offset 0 of its ArrayBuffer.
    return new Uint8Array(this.#arrayBuffer, start, length);
  }

  /**
   * Consumes the next `length` bytes and returns a copy of them.
   *
   * @param length How many bytes; at most {@linkcode ReceiveBuffer.length}.
   * @throws {RangeError} When fewer bytes are buffered.
   */
  takeCopy(length: number): Uint8Array {
    const start = this.#start;
    if (!(length >= 0 && length <= this.#end - start)) this.#outOfRange("take", length);
    this.#start = start + length;
    this.#position += length;
    const copy = this.allocate(length);
    copy.set(this.#bytes.subarray(start, start + length));
    return copy;
  }

  /**
   * Returns a zero-filled array of `length` bytes for a decoded frame (COBS, unstuffed data)
   * that no one else writes to. Small arrays are carved from a slab that belongs to this
   * buffer, so they cost a view rather than an allocation, and never share memory with
   * another connection.
   *
   * @param length The byte count.
   */
  allocate(length: number): Uint8Array {
    if (length >= SLAB_SIZE / 4) return new Uint8Array(freshBlock(length));
    let slab = this.#slab;
    if (slab === undefined || slab.detached || this.#slabOffset + length > SLAB_SIZE) {
      slab = this.#slab = freshBlock(SLAB_SIZE);
      this.#slabOffset = 0;
    }
    const view = new Uint8Array(slab, this.#slabOffset, length);
    this.#slabOffset += (length + 7) & ~7;
    return view;
  }

  /**
   * Drops the next `length` bytes.
   *
   * @param length How many bytes; at most {@linkcode ReceiveBuffer.length}.
   * @throws {RangeError} When fewer bytes are buffered.
   */
  skip(length: number): void {
    if (!(length >= 0 && length <= this.#end - this.#start)) this.#outOfRange("skip", length);
    this.#start += length;
    this.#position += length;
  }

  /**
   * Hints that a frame of `length` unconsumed bytes is coming, so the storage grows towards
   * it in a few large steps rather than many small ones. Decoders call it after checking
   * `length` against their limit.
   *
   * The hint never makes the buffer allocate what was merely announced: each time the storage
   * moves, it grows to at most twice the bytes buffered (at least 64 KiB) plus one read, so a
   * peer must send a frame to make room for it. Copying stays linear: each byte moves at most
   * a few times on its way to a whole frame.
   *
   * @param length The unconsumed bytes the current frame needs in all.
   */
  reserve(length: number): void {
    this.#reserve = length;
    this.#reserveAt = this.#position;
  }

  /**
   * Returns the free tail for a read straight into the buffer, at least `minReadSize` bytes
   * (moving or growing the storage as needed). The tail is usually `sizeHint` bytes or more;
   * once frames were taken from the block, a shorter tail (of at least `minReadSize`) is handed
   * out as it is rather than a new block allocated. A block more than four times the room it
   * needs (the unconsumed bytes, or the frame announced with {@linkcode ReceiveBuffer.reserve},
   * plus one read) for 4 reads in a row is replaced by one of that size — at once when it is
   * over 1 MiB (a block grown for one large frame). Call {@linkcode ReceiveBuffer.commit} with
   * the count read before any other call.
   *
   * @param sizeHint The read size wanted (at least `minReadSize`); the tail may be larger.
   */
  getWriteBuffer(sizeHint?: number): Uint8Array {
    sizeHint ??= this.#minRead;
    const minRead = this.#minRead;
    const want = Math.max(sizeHint, minRead);
    const capacity = this.#bytes.byteLength;
    const free = capacity - this.#end;
    const oversized =
      capacity > OVERSIZE * (Math.max(this.#reserved(), this.#end - this.#start) + want);
    if (oversized && capacity > LARGE_BLOCK) {
      // A block grown for a large frame: let it go at once, or the pending read of a connection
      // that goes quiet after that frame would hold it (and small frames taken from it pin it).
      this.#makeRoom(want, want, true);
    } else if (free < want || (this.#bytes.buffer as ArrayBuffer).detached) {
      // Once a frame was handed out the block cannot be compacted, only replaced: keep reading
      // into its tail while that holds a read of at least minReadSize, so a block is replaced
      // once per block's worth of bytes, not on every read that is shorter than the hint.
      if (!this.#pinned || free < minRead || (this.#bytes.buffer as ArrayBuffer).detached) {
        this.#makeRoom(want, want);
      }
    } else if (oversized) {
      // The reads have shrunk (a burst is over) and no frame in progress needs the room: after
      // a run of such reads, let a block grown for the burst go rather than keep it for the
      // small reads that follow (the pending read would hold it while the connection is quiet).
      if (++this.#oversizedReads >= SHRINK_AFTER) this.#makeRoom(want, want, true);
    } else {
      this.#oversizedReads = 0;
    }
    return this.#bytes.subarray(this.#end);
  }

  /**
   * Marks `n` bytes at the start of the last {@linkcode ReceiveBuffer.getWriteBuffer} tail as
   * received.
   *
   * @param n The count read.
   * @throws {RangeError} When `n` exceeds the free tail.
   */
  commit(n: number): void {
    if (!(n >= 0 && n <= this.#bytes.byteLength - this.#end)) this.#outOfRange("commit", n);
    this.#end += n;
  }

  /**
   * Copies `chunk` after the unconsumed bytes.
   *
   * @param chunk The received bytes.
   */
  append(chunk: Uint8Array): void {
    const n = chunk.byteLength;
    if (this.#bytes.byteLength - this.#end < n) this.#makeRoom(n, n);
    this.#bytes.set(chunk, this.#end);
    this.#end += n;
  }

  /**
   * Makes at least `need` free bytes after the unconsumed ones (aiming for `want`), in a new
   * block when `shrink` is set.
   */
  #makeRoom(need: number, want: number, shrink = false): void {
    const start = this.#start;
    const unconsumed = this.#end - start;
    const old = this.#bytes;
    // Honour the hint only as far as bytes actually arrived (see reserve()); a block replaced
    // for being oversized gets the whole frame's room, which is at most a quarter of it.
    const reserved = this.#reserved();
    const reserve = Math.max(
      shrink ? reserved : Math.min(reserved, Math.max(2 * unconsumed, RESERVE_STEP)),
      unconsumed,
    );
    this.#reserve = 0;
    this.#oversizedReads = 0;
    if (
      !shrink && !this.#pinned && old.byteLength - unconsumed >= need && old.byteLength >= reserve
    ) {
      // No view into the storage is out: slide the unconsumed bytes to the front.
      if (unconsumed > 0) old.copyWithin(0, start, this.#end);
    } else {
      // Reused in place, a block gets a quarter more room than asked for, so that sliding the
      // tail of a frame to the front leaves a whole read free and the block is kept. A block
      // that frames were taken from after less than half a read arrived (small reads: a
      // request, an answer) is replaced by one with `minReadSize` more room, so the next small
      // reads go into its tail: otherwise the tail after one frame is just short of a read,
      // and every read takes a new block (profiled: ~1.8 µs per answer of a packet RPC
      // client). Blocks that large reads filled get no more room: measured, that made reads
      // smaller and packet RPC with 256 in flight slower (0.76 → 0.58). A block no frame was
      // taken from that carries part of a frame of unknown length gets `minReadSize` more too:
      // otherwise a frame arriving a byte per read took a new block, and was copied, on every
      // read (one of announced length has its room from `reserve()`).
      // A frame in progress longer than a read whose length the decoder cannot announce (a
      // line, a delimited frame) grows the block geometrically: growing by one read each time
      // would copy the frame so far on every read, quadratic in its length. One whose length
      // was announced (`reserve()`) grows towards that length instead (see `reserve`).
      const slack = this.#pins
        ? ((this.#pinned ? this.#end < want >> 1 : unconsumed > 0 && reserved === 0)
          ? this.#minRead
          : 0)
        : want >> 2;
      const grow = unconsumed > want && reserved === 0 ? 2 * unconsumed : 0;
      const capacity = Math.max(reserve + need, unconsumed + Math.max(need, want), grow) + slack;
      this.#arrayBuffer = freshBlock(capacity);
      this.#bytes = new Uint8Array(this.#arrayBuffer);
      if (unconsumed > 0) this.#bytes.set(old.subarray(start, this.#end));
      this.#pinned = false;
    }
    this.#start = 0;
    this.#end = unconsumed;
  }

  /** The `reserve()` hint while it is current: no byte was consumed since it was given. */
  #reserved(): number {
    return this.#reserveAt === this.#position ? this.#reserve : 0;
  }

  #outOfRange(operation: string, n: number, skip = 0): never {
    throw new RangeError(
      `Cannot ${operation} ${n} bytes${skip === 0 ? "" : ` after ${skip}`}: ${
        operation === "commit"
          ? `only ${this.#bytes.byteLength - this.#end} bytes are free`
          : `only ${this.#end - this.#start} bytes are buffered`
      }`,
    );
  }
}

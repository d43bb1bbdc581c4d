/**
 * Fresh receive memory: the blocks that reads go into and that are never written again, so
 * that the chunks, frames and datagrams handed out as views of them stay valid (the plain
 * `Protocol`'s read slabs, the framed receive buffer, UDP slabs). Every such block is
 * allocated here.
 *
 * Such blocks are freed in bursts: V8 frees a block's memory only when a garbage collection
 * finds every view of it gone, and then frees many blocks at once. With glibc's default
 * thresholds, a burst that leaves more than twice the largest block free at the top of the
 * heap is returned to the kernel, so the next blocks take page faults and zeroing by the
 * kernel again: each received byte costs fresh pages. Before the first block, one 16 MiB
 * buffer ({@linkcode KEEP_FREED}) is allocated and freed at once; glibc then raises its
 * dynamic thresholds to that size (`M_MMAP_THRESHOLD`, and `M_TRIM_THRESHOLD` to twice it),
 * so a burst of freed blocks stays in the heap and the next blocks reuse it.
 *
 * Measured (a pipelined echo server of 68-byte frames read in 256 KiB blocks, 3 M frames,
 * five interleaved runs): the server's CPU fell from 214 to 196 ms, what glibc gives with
 * `MALLOC_TRIM_THRESHOLD_=33554432 MALLOC_MMAP_THRESHOLD_=16777216` set by hand (193 ms), and
 * close to reusing one block (185 ms). The price: a process keeps up to 32 MiB of freed heap
 * instead of returning it. Setting any of glibc's `MALLOC_TRIM_THRESHOLD_`,
 * `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TOP_PAD_` or `MALLOC_MMAP_MAX_` turns the dynamic
 * thresholds off, so the process's own settings win; other allocators ignore the freed buffer.
 *
 * @module
 */

/**
 * The size of the buffer allocated and freed before the first block: 16 MiB, within glibc's
 * 32 MiB ceiling for its dynamic thresholds (a 32 MiB buffer, with its header, is past it).
 * Measured against 8 MiB: the same.
 */
export const KEEP_FREED = 16 * 1024 * 1024;

let prepared = false;

/**
 * Allocates a block of fresh receive memory (zeroed, as any `ArrayBuffer`).
 *
 * @param size The byte count.
 */
export function freshBlock(size: number): ArrayBuffer {
  if (!prepared) keepFreedMemory();
  return new ArrayBuffer(size);
}

/** Allocates and frees {@linkcode KEEP_FREED} bytes, once per process (see the module doc). */
function keepFreedMemory(): void {
  prepared = true;
  try {
    // transfer(0) detaches the buffer and frees its memory now, not at the next collection.
    new ArrayBuffer(KEEP_FREED).transfer(0);
  } catch {
    // Out of memory for it (a small heap limit): an optimization, not worth failing a read.
  }
}

/**
 * A table of requests by tag for channel 0, where a connection's requests live: a ring of
 * slots indexed by `tag & mask`, and a `Map` only for a tag whose slot is taken.
 *
 * Tags are handed out in order (ours from 2 up; a cs.packetstream peer's the same way), so the
 * outstanding ones lie in a window and almost every tag finds its slot free. No hashing, and
 * no hash table rebuilt as tags come and go: a `Map` churned by one insert and one delete per
 * request cost the client a third of its time in the garbage collector (the young requests
 * its discarded tables still pointed to were kept alive and promoted).
 *
 * @module
 */

/** What a {@linkcode TagTable} holds: anything that knows its tag. */
export interface Tagged {
  readonly tag: number;
}

/** The `Map` methods the request tables use, which a {@linkcode TagTable} has too. */
export interface TagMap<T> {
  readonly size: number;
  get(tag: number): T | undefined;
  has(tag: number): boolean;
  set(tag: number, value: T): unknown;
  delete(tag: number): boolean;
  values(): Iterable<T>;
  clear(): void;
}

/** Values by tag: a ring of slots, and a `Map` for tags whose slot is taken. */
export class TagTable<T extends Tagged> implements TagMap<T> {
  readonly #slots: (T | undefined)[];
  readonly #mask: number;
  readonly #overflow = new Map<number, T>();
  #inSlots = 0;

  /**
   * @param window How many tags are usually outstanding at once (the ring gets the next power
   * of two of twice that, from 64 to 65536 slots).
   */
  constructor(window: number) {
    let size = 64;
    while (size < 2 * window && size < 65536) size *= 2;
    this.#slots = new Array<T | undefined>(size).fill(undefined);
    this.#mask = size - 1;
  }

  /** How many values it holds. */
  get size(): number {
    return this.#inSlots + this.#overflow.size;
  }

  /** The value with `tag`, if any. */
  get(tag: number): T | undefined {
    const value = this.#slots[tag & this.#mask];
    if (value !== undefined && value.tag === tag) return value;
    return this.#overflow.size === 0 ? undefined : this.#overflow.get(tag);
  }

  /** Whether a value has `tag`. */
  has(tag: number): boolean {
    return this.get(tag) !== undefined;
  }

  /** Stores `value` under `tag` (its own tag); replaces a value with the same tag. */
  set(tag: number, value: T): this {
    const i = tag & this.#mask;
    const held = this.#slots[i];
    if (held === undefined) {
      // The tag may sit in the overflow from when its slot was taken: one place per tag.
      if (this.#overflow.size !== 0) this.#overflow.delete(tag);
      this.#slots[i] = value;
      this.#inSlots++;
    } else if (held.tag === tag) {
      this.#slots[i] = value;
    } else {
      this.#overflow.set(tag, value);
    }
    return this;
  }

  /** Removes the value with `tag`; returns whether there was one. */
  delete(tag: number): boolean {
    const i = tag & this.#mask;
    const held = this.#slots[i];
    if (held !== undefined && held.tag === tag) {
      this.#slots[i] = undefined;
      this.#inSlots--;
      return true;
    }
    return this.#overflow.size !== 0 && this.#overflow.delete(tag);
  }

  /** Every value, in tag order. */
  values(): T[] {
    const all: T[] = [];
    if (this.#inSlots > 0) {
      for (const value of this.#slots) if (value !== undefined) all.push(value);
    }
    for (const value of this.#overflow.values()) all.push(value);
    return all.sort((a, b) => a.tag - b.tag);
  }

  /** Removes everything. */
  clear(): void {
    if (this.#inSlots > 0) this.#slots.fill(undefined);
    this.#inSlots = 0;
    this.#overflow.clear();
  }
}

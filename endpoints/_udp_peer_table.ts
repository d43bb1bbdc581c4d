/**
 * The peer table of a UDP tendril manager: peers by remote address, plus the insertion-ordered
 * list of peers that have not proved themselves yet (the ones a full table evicts first).
 *
 * @module
 */

/** How far a peer has shown that it really is at its source address. */
export type PeerTrust =
  /** It sent datagrams; we never sent it one. */
  | "unproven"
  /** We sent it a datagram; it has sent nothing since. */
  | "answered"
  /** It sent a datagram after we had sent it one, or we opened it with `connect()`. */
  | "proven";

/**
 * What the table needs of a peer: its address and the links of the unproven list, kept on the
 * peer itself so that listing, unlisting and eviction allocate nothing and cost O(1).
 */
export interface TablePeer<P> {
  /** The remote hostname in its table form (see {@linkcode normalizeHost}). */
  readonly host: string;
  /** The remote port. */
  readonly port: number;
  /** The previous (older) unproven peer; managed by the table. */
  olderUnproven: P | undefined;
  /** The next (newer) unproven peer; managed by the table. */
  newerUnproven: P | undefined;
  /** Whether the peer is in the unproven list; managed by the table. */
  listedUnproven: boolean;
}

/**
 * Peers by hostname then port (a lookup builds no key string), and the unproven ones in a
 * doubly linked list, oldest first.
 *
 * | operation                    | cost | allocates                        |
 * | ---------------------------- | ---- | -------------------------------- |
 * | `find(host, port)`           | O(1) | nothing                          |
 * | `add`, `remove`, `unlist`    | O(1) | a port map for a host's first peer |
 * | `oldestUnproven()`           | O(1) | nothing                          |
 */
export class PeerTable<P extends TablePeer<P>> {
  readonly #byHost = new Map<string, Map<number, P>>();
  #size = 0;
  #oldest: P | undefined;
  #newest: P | undefined;
  #unproven = 0;

  /** The number of peers. */
  get size(): number {
    return this.#size;
  }

  /** The number of peers in the unproven list. */
  get unprovenCount(): number {
    return this.#unproven;
  }

  /** The peer at `host` (in table form) and `port`, if any. */
  find(host: string, port: number): P | undefined {
    return this.#byHost.get(host)?.get(port);
  }

  /** Adds a peer; an unproven one goes to the newest end of the unproven list. */
  add(peer: P, unproven: boolean): void {
    let ports = this.#byHost.get(peer.host);
    if (ports === undefined) {
      ports = new Map();
      this.#byHost.set(peer.host, ports);
    }
    ports.set(peer.port, peer);
    this.#size++;
    if (unproven) this.#list(peer);
  }

  /** Removes a peer (and unlists it); a peer that is not in the table is left alone. */
  remove(peer: P): void {
    const ports = this.#byHost.get(peer.host);
    if (ports?.get(peer.port) !== peer) return;
    ports.delete(peer.port);
    if (ports.size === 0) this.#byHost.delete(peer.host);
    this.#size--;
    this.unlist(peer);
  }

  /** Takes a peer off the unproven list: it proved itself. */
  unlist(peer: P): void {
    if (!peer.listedUnproven) return;
    const older = peer.olderUnproven;
    const newer = peer.newerUnproven;
    if (older) older.newerUnproven = newer;
    else this.#oldest = newer;
    if (newer) newer.olderUnproven = older;
    else this.#newest = older;
    peer.olderUnproven = undefined;
    peer.newerUnproven = undefined;
    peer.listedUnproven = false;
    this.#unproven--;
  }

  /** The unproven peer added first, if any: the one a full table evicts. */
  oldestUnproven(): P | undefined {
    return this.#oldest;
  }

  /** Every peer, as a new array (for sweeps and shutdown, not for each datagram). */
  toArray(): P[] {
    const peers: P[] = [];
    for (const ports of this.#byHost.values()) for (const peer of ports.values()) peers.push(peer);
    return peers;
  }

  #list(peer: P): void {
    peer.olderUnproven = this.#newest;
    peer.newerUnproven = undefined;
    peer.listedUnproven = true;
    if (this.#newest) this.#newest.newerUnproven = peer;
    else this.#oldest = peer;
    this.#newest = peer;
    this.#unproven++;
  }
}

/**
 * A hostname in table form: an IPv4-mapped IPv6 address becomes its IPv4 form, so a peer
 * reached over a dual-stack socket is one peer. Received addresses are already lower case
 * (Deno formats them), so only names from users need {@linkcode String.toLowerCase} first.
 */
export function normalizeHost(hostname: string): string {
  return hostname.startsWith("::ffff:") && hostname.includes(".") ? hostname.slice(7) : hostname;
}

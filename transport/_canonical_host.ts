/**
 * One spelling per IP address, so addresses given by users compare equal to those the socket
 * reports: `0:0:0:0:0:0:0:1` is `::1`, `FE80::1` is `fe80::1`, and an IPv4-mapped IPv6 address
 * (`::ffff:1.2.3.4`, `::FFFF:102:304`) is its IPv4 form, as a dual-stack socket's peer is one peer.
 *
 * @module
 */

/**
 * The canonical form of `hostname` (brackets dropped): IPv6 as the URL standard writes it
 * (lower case, the longest run of zeros as `::`), IPv4-mapped addresses as IPv4; anything else
 * (IPv4, names) in lower case.
 */
export function canonicalHost(hostname: string): string {
  const bare = hostname.startsWith("[") && hostname.endsWith("]")
    ? hostname.slice(1, -1)
    : hostname;
  if (!bare.includes(":")) return bare.toLowerCase();
  let canonical: string;
  try {
    canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return bare.toLowerCase(); // not an IPv6 address: leave it be
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped === null) return canonical;
  const high = parseInt(mapped[1], 16);
  const low = parseInt(mapped[2], 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * The only address forms that may enter an nft script: canonical IPv4 (`192.0.2.7`),
 * canonical compressed lower-case IPv6 (`2001:db8::1`), and, for bans, a canonical prefix
 * with its host bits clear (`2001:db8::/64`). Anything else (a zone suffix `%eth0`,
 * brackets, white space, `1.2.3.4 } ; flush ruleset`, upper case, leading zeros, a mapped
 * `::ffff:1.2.3.4`) is refused, so no text read from a state store or the network can
 * change the meaning of a script line. Checked here, at the leaf, whatever the caller did.
 *
 * @example
 * ```ts
 * nftAddress("2001:db8::1"); // { family: 6, text: "2001:db8::1" }
 * nftAddress("2001:DB8::1"); // throws: not canonical
 * ```
 * @module
 */
import { formatIp, parseCidr, parseIp } from "../util/ip.ts";

/** A checked address or prefix, ready to be written into a script. */
export interface NftAddress {
  /** 4 or 6. */
  family: 4 | 6;
  /** The canonical text (unchanged input). */
  text: string;
}

const SHAPE = /^[0-9a-f:.]{2,45}$/;

/** Checks that `text` is one canonical IP address; throws otherwise. */
export function nftAddress(text: string): NftAddress {
  if (typeof text === "string" && SHAPE.test(text)) {
    const ip = parseIp(text);
    if (ip && formatIp(ip) === text) return { family: ip.family, text };
  }
  throw new Error(`not a canonical IP address: ${JSON.stringify(String(text).slice(0, 64))}`);
}

/**
 * Checks that `text` is a canonical address or a canonical `address/length` prefix with
 * its host bits clear (a ban source); throws otherwise.
 */
export function nftSource(text: string): NftAddress {
  const slash = typeof text === "string" ? text.indexOf("/") : -1;
  if (slash < 0) return nftAddress(text);
  const addr = nftAddress(text.slice(0, slash));
  const cidr = /^(0|[1-9][0-9]{0,2})$/.test(text.slice(slash + 1)) ? parseCidr(text) : undefined;
  if (!cidr || cidr.text !== text || cidr.family !== addr.family) {
    throw new Error(`not a canonical prefix: ${JSON.stringify(text.slice(0, 64))}`);
  }
  return { family: addr.family, text };
}

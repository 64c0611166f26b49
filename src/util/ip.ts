/**
 * IP address and CIDR parsing and matching, IPv4 and IPv6, without DNS.
 *
 * Addresses are held as bigints (IPv4 in 32 bits, IPv6 in 128 bits) so a CIDR
 * match is one shift and one compare.
 *
 * @example
 * ```ts
 * const net = parseCidr("10.0.0.0/8")!;
 * cidrContains(net, parseIp("10.1.2.3")!); // true
 * ```
 * @module
 */

/** A parsed IP address. */
export interface IpAddress {
  /** 4 or 6. */
  family: 4 | 6;
  /** The address as an unsigned integer. */
  value: bigint;
}

/** A parsed CIDR block. */
export interface Cidr {
  /** 4 or 6. */
  family: 4 | 6;
  /** Network address (host bits cleared). */
  network: bigint;
  /** Prefix length. */
  prefix: number;
  /** The canonical text (`10.0.0.0/8`). */
  text: string;
  /** The text as written, only when it had host bits set (`10.1.2.3/8`): lint warns. */
  hostBitsFrom?: string;
}

/**
 * Dotted-quad IPv4 (exactly four decimal octets, no leading zeros) as a number. One pass over
 * the characters and no allocation: it runs for every datagram the daemon receives.
 */
function parseIpv4(text: string): bigint | undefined {
  const n = text.length;
  if (n < 7 || n > 15) return undefined;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let parts = 0;
  let leadingZero = false;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46; // a '.' after the end closes the last octet
    if (c >= 48 && c <= 57) {
      if (leadingZero) return undefined;
      if (digits === 0 && c === 48) leadingZero = true;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else if (c === 46) {
      if (digits === 0 || ++parts > 4) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      leadingZero = false;
    } else {
      return undefined;
    }
  }
  return parts === 4 ? BigInt(value) : undefined;
}

function parseIpv6(text: string): bigint | undefined {
  let body = text;
  const zone = body.indexOf("%");
  if (zone >= 0) {
    // A zone is an interface name or index (IFNAMSIZ 16), nothing else: `fe80::1%x } ; …` is
    // not an address.
    if (!/^[0-9A-Za-z_.-]{1,15}$/.test(body.slice(zone + 1))) return undefined;
    body = body.slice(0, zone);
  }
  if (body.length === 0 || body.length > 45) return undefined;
  let tailV4: bigint | undefined;
  const lastColon = body.lastIndexOf(":");
  if (body.includes(".")) {
    tailV4 = parseIpv4(body.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    body = body.slice(0, lastColon + 1) + "0:0";
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 2 ? (halves[1] === "" ? [] : halves[1].split(":")) : [];
  const groups = halves.length === 2
    ? [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail]
    : head;
  if (groups.length !== 8 || (halves.length === 2 && head.length + tail.length > 7)) {
    return undefined;
  }
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  if (tailV4 !== undefined) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

/** Parses an IPv4 or IPv6 address (brackets allowed around IPv6); `undefined` if invalid. */
export function parseIp(text: string): IpAddress | undefined {
  let t = text.trim();
  if (t.startsWith("[") && t.endsWith("]")) t = t.slice(1, -1);
  if (t.includes(":")) {
    const value = parseIpv6(t);
    if (value === undefined) return undefined;
    // IPv4-mapped IPv6 (::ffff:a.b.c.d) is treated as the IPv4 address.
    if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
    return { family: 6, value };
  }
  const value = parseIpv4(t);
  return value === undefined ? undefined : { family: 4, value };
}

/** Formats a parsed address back to text (IPv6 in its compressed form). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Parses `addr/prefix` (a bare address means a single host); `undefined` if invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const addr = parseIp(slash >= 0 ? text.slice(0, slash) : text);
  if (!addr) return undefined;
  const bits = addr.family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > bits) return undefined;
  }
  const network = maskAddress(addr.value, prefix, bits);
  return {
    family: addr.family,
    network,
    prefix,
    text: `${formatIp({ family: addr.family, value: network })}/${prefix}`,
    ...(network !== addr.value ? { hostBitsFrom: text } : {}),
  };
}

function maskAddress(value: bigint, prefix: number, bits: number): bigint {
  if (prefix === 0) return 0n;
  const hostBits = BigInt(bits - prefix);
  return (value >> hostBits) << hostBits;
}

/** True when `ip` lies inside `cidr`. */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.family !== ip.family) return false;
  // Per datagram (server CIDRs, allow/deny lists): no BigInt arithmetic for the common cases.
  if (cidr.prefix === 0) return true;
  if (ip.family === 4) {
    const shift = 32 - cidr.prefix;
    const a = Number(ip.value), n = Number(cidr.network);
    return shift === 0 ? a === n : Math.floor(a / 2 ** shift) === Math.floor(n / 2 ** shift);
  }
  return maskAddress(ip.value, cidr.prefix, 128) === cidr.network;
}

/** True when `ip` lies inside any of `cidrs`. */
export function anyCidrContains(cidrs: readonly Cidr[], ip: IpAddress): boolean {
  for (const cidr of cidrs) if (cidrContains(cidr, ip)) return true;
  return false;
}

/** A listen address parsed from `host:port` or `[v6]:port`. */
export interface ListenAddress {
  /** Host as given, without brackets. */
  host: string;
  /** UDP port 1..65535. */
  port: number;
  /** 4 or 6. */
  family: 4 | 6;
}

/** Parses `127.0.0.1:50000`, `[::1]:50000`, `0.0.0.0:62201`; returns an error message when invalid. */
export function parseListen(text: string): ListenAddress | string {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d+)$/.exec(text.trim());
  if (!m) return "expected HOST:PORT, with IPv6 in brackets ([::1]:50000)";
  const host = m[1] ?? m[2];
  const ip = parseIp(host);
  if (!ip) return `"${host}" is not an IP address (host names are not resolved here)`;
  if (m[1] !== undefined && ip.family !== 6) return "brackets are for IPv6 addresses";
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return `port ${m[3]} is out of range: expected 1..65535`;
  }
  return { host, port, family: ip.family };
}

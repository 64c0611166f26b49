/**
 * Cookies (v2), after WireGuard's mac2/cookie-reply design, written for siglatch:
 *
 * - cookie = HMAC-SHA256(secret, "siglatch v2 cookie" ‖ source)[0..16], where `source` is
 *   the datagram's source address and port and `secret` is 32 random bytes that rotate every
 *   2 minutes (the current and the previous secret are accepted).
 * - A client proves its source address with mac2 = HMAC-SHA256(cookie, datagram before
 *   mac2)[0..16]: checking it costs two HMACs and no public-key work.
 * - The server hands out a cookie in a cookie reply: salt (16, random) ‖ ChaCha20-Poly1305(
 *   key = HMAC-SHA256(SHA-256("siglatch v2 cookie reply" ‖ server public key), salt),
 *   nonce = 0, aad = the request's mac1, cookie ‖ observed source). Only someone who saw the
 *   request (its mac1) and knows the server public key can open it, and the reply goes to
 *   the source address: a spoofer never sees it. It carries the observed address and port
 *   (as STUN does) so the client learns its public address. It is 67 bytes, never more than
 *   the request it answers, and looks random (random salt, ciphertext).
 *
 * Byte layouts: docs/PROTOCOL.md §7.
 * @module
 */
import { randomFillSync } from "node:crypto";
import { CHACHA20_POLY1305 } from "../crypto/aead.ts";
import { utf8 } from "../crypto/bytes.ts";
import { constantTimeEqual } from "../crypto/ct.ts";
import { HmacKey, sha256 } from "../crypto/hkdf.ts";
import { formatIp, type IpAddress, parseIp } from "../util/ip.ts";
import { Mac1 } from "./mac1.ts";
import { computeMac2 } from "./mac2.ts";
import { SUITE_V2, type WireMode } from "./suite.ts";
import { COOKIE_LEN, MAC1_LEN, MAC2_LEN, MAX_DATAGRAM } from "./types.ts";

/** How often the cookie secret rotates (ms); a cookie lives one to two periods. */
export const COOKIE_ROTATE_MS = 120_000;
/**
 * How long a client uses a cookie (ms): the rotation period minus a margin for the round
 * trip, so a cookie is never used after the server dropped its secret.
 */
export const COOKIE_CLIENT_TTL_MS = COOKIE_ROTATE_MS - 5_000;
/** Length of the cookie reply's clear random salt. */
export const COOKIE_SALT_LEN = 16;
/** Length of the cookie reply's plaintext: cookie, family, port, address (16). */
const PLAIN_LEN = COOKIE_LEN + 1 + 2 + 16;
/** Length of every cookie reply datagram. */
export const COOKIE_REPLY_LEN = COOKIE_SALT_LEN + PLAIN_LEN + CHACHA20_POLY1305.tagLength;

const COOKIE_LABEL = utf8("siglatch v2 cookie");
const REPLY_LABEL = utf8("siglatch v2 cookie reply");
const ZERO_NONCE = new Uint8Array(12);
const aead = CHACHA20_POLY1305;

/** family (1) ‖ port (2) ‖ address (16; IPv4 in the first 4, the rest zero). */
function sourceBlock(ip: IpAddress, port: number, out: Uint8Array, off: number): void {
  out[off] = ip.family;
  out[off + 1] = port >> 8;
  out[off + 2] = port & 0xff;
  const n = ip.family === 4 ? 4 : 16;
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    out[off + 3 + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out.fill(0, off + 3 + n, off + 19);
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 0 && port <= 0xffff;
}

/** The key of cookie replies from this server public key: SHA-256(label ‖ public). */
function replyMasterKey(serverPublic: Uint8Array): HmacKey {
  return new HmacKey(sha256(REPLY_LABEL, serverPublic));
}

const masterCache = new WeakMap<Uint8Array, HmacKey>();

function cachedMaster(serverPublic: Uint8Array): HmacKey {
  let master = masterCache.get(serverPublic);
  if (master === undefined) masterCache.set(serverPublic, master = replyMasterKey(serverPublic));
  return master;
}

function cookieInto(secret: HmacKey, ip: IpAddress, port: number, block: Uint8Array): Uint8Array {
  sourceBlock(ip, port, block, COOKIE_LABEL.length);
  return secret.macInto([block], new Uint8Array(32)).subarray(0, COOKIE_LEN);
}

/**
 * The cookie a 32-byte `secret` gives `ip`:`port` (pure; the checker uses the same
 * derivation with its rotating secrets). For test vectors.
 */
export function cookieFor(secret: Uint8Array, ip: string, port: number): Uint8Array {
  const addr = parseIp(ip);
  if (addr === undefined || !validPort(port)) throw new RangeError("bad source address");
  const block = new Uint8Array(COOKIE_LABEL.length + 19);
  block.set(COOKIE_LABEL, 0);
  return cookieInto(new HmacKey(secret), addr, port, block).slice();
}

/**
 * Seals a cookie reply (pure except for the random salt, which test vectors fix): the
 * cookie and the observed source, under a key from the server public key and the salt,
 * with the request's mac1 as AAD.
 */
export function sealCookieReply(
  serverPublic: Uint8Array,
  requestMac1: Uint8Array,
  cookie: Uint8Array,
  ip: string,
  port: number,
  salt?: Uint8Array,
): Uint8Array {
  const addr = parseIp(ip);
  if (addr === undefined || !validPort(port)) throw new RangeError("bad source address");
  if (cookie.length !== COOKIE_LEN || requestMac1.length !== MAC1_LEN) {
    throw new RangeError("cookie and mac1 must be 16 bytes");
  }
  return sealReply(cachedMaster(serverPublic), requestMac1, cookie, addr, port, salt);
}

function sealReply(
  master: HmacKey,
  requestMac1: Uint8Array,
  cookie: Uint8Array,
  addr: IpAddress,
  port: number,
  salt?: Uint8Array,
): Uint8Array {
  const plain = new Uint8Array(PLAIN_LEN);
  plain.set(cookie, 0);
  sourceBlock(addr, port, plain, COOKIE_LEN);
  const out = new Uint8Array(COOKIE_REPLY_LEN);
  const s = out.subarray(0, COOKIE_SALT_LEN);
  if (salt === undefined) randomFillSync(s);
  else if (salt.length === COOKIE_SALT_LEN) s.set(salt);
  else throw new RangeError("salt must be 16 bytes");
  out.set(aead.seal(master.mac(s), ZERO_NONCE, requestMac1, plain), COOKIE_SALT_LEN);
  return out;
}

/** Options of {@linkcode CookieChecker}. */
export interface CookieCheckerOptions {
  /** Clock in ms (default `Date.now`). */
  clock?: () => number;
  /** Secret rotation period in ms (default {@linkcode COOKIE_ROTATE_MS}). */
  rotateMs?: number;
  /** The server takes insecure requests (their mac1 label differs). */
  insecure?: boolean;
  /**
   * The server's previous public key during a key rotation's grace period: a request whose
   * mac1 is for it gets a cookie reply sealed under it (the client still has only that key).
   */
  previousPublic?: Uint8Array;
}

/**
 * Server side: checks mac2 and makes cookie replies, for one server public key. Holds only
 * two random secrets; no table grows with sources. Never throws from its methods.
 */
export class CookieChecker {
  readonly #clock: () => number;
  readonly #rotateMs: number;
  readonly #mac1: Mac1;
  readonly #replyKey: HmacKey;
  readonly #mode: WireMode;
  /** mac1 and reply key of the previous server key (rotation grace), if any. */
  #previousKey: { pub: Uint8Array; mac1: Mac1; replyKey: HmacKey } | undefined;
  #epoch: number;
  #current: HmacKey;
  #previous: HmacKey | undefined;
  readonly #block = new Uint8Array(COOKIE_LABEL.length + 19);

  /** Prepares the checker for `serverPublic` (32 bytes). */
  constructor(serverPublic: Uint8Array, opts: CookieCheckerOptions = {}) {
    if (serverPublic.length !== 32) throw new TypeError("server public key must be 32 bytes");
    this.#clock = opts.clock ?? Date.now;
    this.#rotateMs = opts.rotateMs ?? COOKIE_ROTATE_MS;
    if (!(this.#rotateMs > 0)) throw new RangeError("rotateMs must be positive");
    const mode: WireMode = opts.insecure ? "insecure" : "secure";
    this.#mac1 = new Mac1(SUITE_V2.mac1Label[mode], serverPublic);
    this.#replyKey = cachedMaster(serverPublic);
    this.#mode = mode;
    this.setPrevious(opts.previousPublic);
    this.#epoch = this.#epochNow();
    this.#current = newSecret();
    this.#block.set(COOKIE_LABEL, 0);
  }

  /**
   * Sets (or, with `undefined`, drops) the previous server public key whose requests still
   * get cookie replies. The cookie secrets are kept: cookies do not depend on the server key.
   */
  setPrevious(previousPublic: Uint8Array | undefined): void {
    if (previousPublic === undefined) {
      this.#previousKey = undefined;
      return;
    }
    if (previousPublic.length !== 32) throw new TypeError("server public key must be 32 bytes");
    if (this.#previousKey && sameBytes(this.#previousKey.pub, previousPublic)) return;
    this.#previousKey = {
      pub: previousPublic,
      mac1: new Mac1(SUITE_V2.mac1Label[this.#mode], previousPublic),
      replyKey: cachedMaster(previousPublic),
    };
  }

  #epochNow(): number {
    return Math.floor(this.#clock() / this.#rotateMs);
  }

  /** Rotates lazily: one period on → the current becomes previous; more → both new. */
  #rotate(): void {
    const epoch = this.#epochNow();
    if (!(epoch > this.#epoch)) return; // same period, or the clock went back
    this.#previous = epoch === this.#epoch + 1 ? this.#current : undefined;
    this.#current = newSecret();
    this.#epoch = epoch;
  }

  #cookie(secret: HmacKey, ip: IpAddress, port: number): Uint8Array {
    return cookieInto(secret, ip, port, this.#block);
  }

  /**
   * True when the datagram's mac2 (its last 16 bytes) was made with a cookie this server
   * gave to `ip`:`port` under the current or the previous secret. No public-key work; the
   * compares are constant-time. An all-zero mac2 is false at once.
   */
  checkMac2(datagram: Uint8Array, ip: string, port: number): boolean {
    try {
      if (datagram.length < MAC1_LEN + MAC2_LEN || datagram.length > MAX_DATAGRAM) return false;
      if (!validPort(port)) return false;
      const mac2 = datagram.subarray(datagram.length - MAC2_LEN);
      let zero = 0;
      for (let i = 0; i < MAC2_LEN; i++) zero |= mac2[i];
      if (zero === 0) return false;
      const addr = parseIp(ip);
      if (addr === undefined) return false;
      this.#rotate();
      const covered = datagram.subarray(0, datagram.length - MAC2_LEN);
      const cur = computeMac2(this.#cookie(this.#current, addr, port), covered);
      if (constantTimeEqual(cur, mac2)) return true;
      if (this.#previous === undefined) return false;
      const prev = computeMac2(this.#cookie(this.#previous, addr, port), covered);
      return constantTimeEqual(prev, mac2);
    } catch {
      return false;
    }
  }

  /**
   * A cookie reply to a v2 request datagram from `ip`:`port`: 67 bytes, never more than
   * `datagram`. `undefined` when the datagram's mac1 is not valid for this server (v2),
   * when the source cannot be parsed, or when the reply would be larger than the request.
   * A request for the previous key (rotation grace) gets its reply sealed under that key.
   */
  cookieReply(datagram: Uint8Array, ip: string, port: number): Uint8Array | undefined {
    try {
      if (datagram.length < COOKIE_REPLY_LEN || datagram.length > MAX_DATAGRAM) return undefined;
      if (!validPort(port)) return undefined;
      let replyKey = this.#replyKey;
      if (!this.#mac1.verify(datagram, MAC2_LEN)) {
        const prev = this.#previousKey;
        if (prev === undefined || !prev.mac1.verify(datagram, MAC2_LEN)) return undefined;
        replyKey = prev.replyKey;
      }
      const addr = parseIp(ip);
      if (addr === undefined) return undefined;
      this.#rotate();
      const end = datagram.length - MAC2_LEN;
      const requestMac1 = datagram.subarray(end - MAC1_LEN, end);
      const cookie = this.#cookie(this.#current, addr, port);
      return sealReply(replyKey, requestMac1, cookie, addr, port);
    } catch {
      return undefined;
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a === b || (a.length === b.length && a.every((v, i) => v === b[i]));
}

function newSecret(): HmacKey {
  const s = randomFillSync(new Uint8Array(32));
  const k = new HmacKey(s);
  s.fill(0);
  return k;
}

/** What a client learns from a cookie reply. */
export interface CookieReply {
  /** The 16-byte cookie: the key of mac2 for the next requests to this server. */
  cookie: Uint8Array;
  /** The source address and port the server saw (the client's public address). */
  observed: { ip: string; port: number };
}

/**
 * Client side: opens a cookie reply to the request whose mac1 is `requestMac1`. `null` for
 * anything else (a sealed reply, another request's cookie reply, garbage); never throws.
 */
export function openCookieReply(
  serverPublic: Uint8Array,
  requestMac1: Uint8Array,
  datagram: Uint8Array,
): CookieReply | null {
  try {
    if (datagram.length !== COOKIE_REPLY_LEN || requestMac1.length !== MAC1_LEN) return null;
    if (serverPublic.length !== 32) return null;
    const key = cachedMaster(serverPublic).mac(datagram.subarray(0, COOKIE_SALT_LEN));
    const plain = aead.open(key, ZERO_NONCE, requestMac1, datagram.subarray(COOKIE_SALT_LEN));
    if (plain === null || plain.length !== PLAIN_LEN) return null;
    const family = plain[COOKIE_LEN];
    const port = (plain[COOKIE_LEN + 1] << 8) | plain[COOKIE_LEN + 2];
    const a = COOKIE_LEN + 3;
    if (family !== 4 && family !== 6) return null;
    const n = family === 4 ? 4 : 16;
    for (let i = a + n; i < PLAIN_LEN; i++) if (plain[i] !== 0) return null;
    let value = 0n;
    for (let i = 0; i < n; i++) value = (value << 8n) | BigInt(plain[a + i]);
    return {
      cookie: plain.slice(0, COOKIE_LEN),
      observed: { ip: formatIp({ family, value }), port },
    };
  } catch {
    return null;
  }
}

/**
 * Challenge cookies (like WireGuard's): a 16-byte HMAC over the client's address, port
 * and a 30-second time bucket, under a server secret. A cookie is valid in its bucket
 * and the next one (30–60 s). The server sends it in a `challenge` reply; the client
 * repeats its request with the cookie (request flag bit 0).
 * @module
 */
import { constantTimeEqual } from "../crypto/ct.ts";
import { hmacSha256 } from "../crypto/hkdf.ts";
import { utf8 } from "../crypto/bytes.ts";
import { COOKIE_LEN } from "./types.ts";

/** Length of a cookie time bucket (ms). */
export const COOKIE_BUCKET_MS = 30_000;
/** Number of buckets a cookie stays valid (its own and the next). */
export const COOKIE_BUCKETS_VALID = 2;

const LABEL = utf8("siglatch v1 cookie");

function cookieFor(secret: Uint8Array, ip: string, port: number, bucket: number): Uint8Array {
  const fixed = new Uint8Array(10);
  const view = new DataView(fixed.buffer);
  view.setBigUint64(0, BigInt(bucket));
  view.setUint16(8, port);
  return hmacSha256(secret, LABEL, fixed, utf8(ip)).slice(0, COOKIE_LEN);
}

function check(secret: Uint8Array, port: number, nowMs: number): void {
  if (secret.length < 16) throw new RangeError("cookie secret must be at least 16 bytes");
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError("bad port");
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new RangeError("bad time");
}

/**
 * The cookie for a client address at `nowMs`. Pass the address in one canonical form
 * (as the socket reports it) to both functions.
 */
export function makeCookie(
  secret: Uint8Array,
  ip: string,
  port: number,
  nowMs: number,
): Uint8Array {
  check(secret, port, nowMs);
  return cookieFor(secret, ip, port, Math.floor(nowMs / COOKIE_BUCKET_MS));
}

/** True when `cookie` was made for this address within the validity period (constant time). */
export function verifyCookie(
  secret: Uint8Array,
  ip: string,
  port: number,
  cookie: Uint8Array,
  nowMs: number,
): boolean {
  try {
    check(secret, port, nowMs);
  } catch {
    return false;
  }
  if (cookie.length !== COOKIE_LEN) return false;
  const bucket = Math.floor(nowMs / COOKIE_BUCKET_MS);
  let ok = false;
  for (let i = 0; i < COOKIE_BUCKETS_VALID; i++) {
    // Check every bucket (no early exit) so timing does not tell which matched.
    if (constantTimeEqual(cookieFor(secret, ip, port, bucket - i), cookie)) ok = true;
  }
  return ok;
}

/**
 * HMAC-SHA256 and HKDF-SHA256 (RFC 5869) as separate Extract and Expand steps, which
 * HPKE's labeled key schedule needs (node's `hkdfSync` only does both at once).
 * @module
 */
import { createHmac } from "node:crypto";

/** Output length of SHA-256 / HMAC-SHA256 (Nh). */
export const HASH_LEN = 32;

const ZERO_SALT = new Uint8Array(HASH_LEN);

/** HMAC-SHA256(key, parts[0] || parts[1] || ...). */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  const d = h.digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** HKDF-Extract(salt, ikm parts...); an empty salt means 32 zero bytes. */
export function hkdfExtract(salt: Uint8Array, ...ikm: Uint8Array[]): Uint8Array {
  return hmacSha256(salt.length === 0 ? ZERO_SALT : salt, ...ikm);
}

/** HKDF-Expand(prk, info parts..., length), length ≤ 255·32. */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array[], length: number): Uint8Array {
  if (length > 255 * HASH_LEN) throw new RangeError("HKDF-Expand length too large");
  const out = new Uint8Array(length);
  let prev = new Uint8Array(0);
  for (let i = 1, off = 0; off < length; i++) {
    prev = hmacSha256(prk, prev, ...info, new Uint8Array([i])) as Uint8Array<ArrayBuffer>;
    out.set(prev.subarray(0, Math.min(HASH_LEN, length - off)), off);
    off += HASH_LEN;
  }
  return out;
}

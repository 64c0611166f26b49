/**
 * mac2 (v2): the last 16 bytes of a request datagram, HMAC-SHA256(cookie, everything
 * before mac2)[0..16], or 16 zero bytes when the client holds no fresh cookie. The cookie
 * comes from the server's cookie reply ({@linkcode CookieChecker}), which only the holder
 * of the source address ever receives, so a valid mac2 proves the source address without
 * any public-key work.
 * @module
 */
import { createHmac } from "node:crypto";
import { hmacSha256 } from "../crypto/hkdf.ts";
import { COOKIE_LEN, MAC1_LEN, MAC2_LEN } from "./types.ts";

/**
 * Inputs up to this length are MACed in JS (no node:crypto Hmac object, a stream, per
 * datagram: under a flood those allocations were the largest share of the receive loop).
 */
const JS_HMAC_MAX = 384;

/** mac2 of `data` (everything before the mac2 field) under a 16-byte cookie. */
export function computeMac2(cookie: Uint8Array, data: Uint8Array): Uint8Array {
  if (cookie.length !== COOKIE_LEN) throw new RangeError("cookie must be 16 bytes");
  if (data.length <= JS_HMAC_MAX) return hmacSha256(cookie, data).subarray(0, MAC2_LEN);
  const d = createHmac("sha256", cookie).update(data).digest();
  return new Uint8Array(d.buffer, d.byteOffset, MAC2_LEN);
}

/** The mac1 field of a v2 request datagram (a view), or `undefined` when too short. */
export function mac1OfV2(datagram: Uint8Array): Uint8Array | undefined {
  if (datagram.length < MAC1_LEN + MAC2_LEN) return undefined;
  return datagram.subarray(datagram.length - MAC2_LEN - MAC1_LEN, datagram.length - MAC2_LEN);
}

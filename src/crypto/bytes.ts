/**
 * Small byte helpers shared by the crypto and wire modules: concatenation, UTF-8 and
 * big-endian integer writes. Hex and base64 are the platform's (`bytes.toHex()`,
 * `Uint8Array.fromHex()`, `toBase64()`, `fromBase64()`).
 * @module
 */

const encoder = new TextEncoder();

/** Concatenates byte strings into a new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** `n` as 2 big-endian bytes (I2OSP(n, 2)). */
export function u16be(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}

/** True when every byte of `bytes` is zero (time depends only on the length). */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i];
  return acc === 0;
}

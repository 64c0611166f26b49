/**
 * Constant-time comparison of byte strings.
 * @module
 */

/**
 * True when `a` and `b` hold the same bytes. The time taken depends only on the
 * lengths (which are public in every use here), never on where the bytes differ: every
 * byte is compared, with no branch on their values. (A JS loop: node:crypto's
 * `timingSafeEqual` allocated two DataViews per call, measured 1.6 % of the receive loop
 * under a flood.)
 *
 * @example
 * ```ts
 * constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])); // true
 * ```
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

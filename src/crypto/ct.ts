/**
 * Constant-time comparison of byte strings.
 * @module
 */
import { timingSafeEqual } from "node:crypto";

/**
 * True when `a` and `b` hold the same bytes. The time taken depends only on the
 * lengths (which are public in every use here), never on where the bytes differ.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/**
 * mac1: the cheap prefilter. mac1 is SHA-256(mac1_key || all preceding bytes) truncated
 * to 16 bytes; it is the last 16 bytes of a v1 datagram and the 16 bytes before mac2 in a
 * v2 datagram, where
 * mac1_key = SHA-256(label || server X25519 public key). The key is public-derived:
 * a valid mac1 only proves the sender knows the server's public key, and costs one
 * hash to check, before any public-key work.
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { constantTimeEqual } from "../crypto/ct.ts";
import { MAC1_LEN } from "./types.ts";

/** mac1 key = SHA-256(label || serverPublic). */
export function mac1Key(label: Uint8Array, serverPublic: Uint8Array): Uint8Array {
  const d = createHash("sha256").update(label).update(serverPublic).digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** A mac1 key with its hash state precomputed. */
export class Mac1 {
  #base: Hash;

  /** Prepares mac1 for `label` and the server public key. */
  constructor(label: Uint8Array, serverPublic: Uint8Array) {
    this.#base = createHash("sha256").update(mac1Key(label, serverPublic));
  }

  /** mac1 of `data` (16 bytes). */
  compute(data: Uint8Array): Uint8Array {
    const d = this.#base.copy().update(data).digest();
    return new Uint8Array(d.buffer, d.byteOffset, MAC1_LEN);
  }

  /**
   * True when the 16 bytes that end `trailer` bytes before the end of `datagram` are the
   * mac1 of everything before them (constant time). `trailer` is 0 for v1, 16 (mac2) for v2.
   */
  verify(datagram: Uint8Array, trailer = 0): boolean {
    const end = datagram.length - trailer;
    if (end < MAC1_LEN) return false;
    const body = datagram.subarray(0, end - MAC1_LEN);
    return constantTimeEqual(this.compute(body), datagram.subarray(end - MAC1_LEN, end));
  }
}

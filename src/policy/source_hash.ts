/**
 * A keyed 32-bit hash of a source (its address text and, optionally, its port) for the
 * fixed-size tables that network input indexes (`SlotBuckets`, `RepeatSightings`). Not a MAC: the seed is random per process, so a sender who
 * cannot read our memory cannot aim collisions at a chosen slot; a collision only ever
 * shares a rate limit or forgets a sighting, never grants anything.
 *
 * @example
 * ```ts
 * const seed = newHashSeed();
 * const slot = hashSource("192.0.2.7", 40000, seed) & 0xffff;
 * ```
 * @module
 */

/** A random 32-bit seed for {@linkcode hashSource}. */
export function newHashSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/**
 * Hashes `host` (an address as text, at most 64 characters are read) and `port` with
 * `seed`: murmur3-style mixing of each character, then a final avalanche. Unsigned 32 bits.
 */
export function hashSource(host: string, port: number, seed: number): number {
  let h = seed ^ 0x9e3779b9;
  const n = Math.min(host.length, 64);
  for (let i = 0; i < n; i++) {
    h = Math.imul(h ^ host.charCodeAt(i), 0xcc9e2d51);
    h = (h << 15) | (h >>> 17);
  }
  h = Math.imul(h ^ (port & 0xffff), 0x1b873593);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

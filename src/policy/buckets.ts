/**
 * Token buckets per key in a map with a hard cap: when full, the least recently used
 * entry is evicted (Map iteration order is insertion order; a hit re-inserts). O(1) per call.
 * @module
 */

interface Bucket {
  tokens: number;
  updated: number;
}

/** Per-key token buckets with a bounded number of keys. */
export class BucketMap {
  readonly #buckets = new Map<string, Bucket>();
  /** Tokens added per second. */
  rate: number;
  /** Bucket size. */
  burst: number;
  /** Most keys tracked. */
  readonly maxKeys: number;

  /** Creates the map. */
  constructor(rate: number, burst: number, maxKeys: number) {
    this.rate = rate;
    this.burst = burst;
    this.maxKeys = maxKeys;
  }

  /** Keys tracked now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes `cost` tokens for `key` at `now` (ms); false when there are not enough. */
  take(key: string, now: number, cost = 1): boolean {
    let b = this.#buckets.get(key);
    if (b) {
      this.#buckets.delete(key);
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.updated) / 1000) * this.rate);
      b.updated = now;
    } else {
      if (this.#buckets.size >= this.maxKeys) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      b = { tokens: this.burst, updated: now };
    }
    this.#buckets.set(key, b);
    if (b.tokens < cost) return false;
    b.tokens -= cost;
    return true;
  }
}

/** One token bucket: `rate` tokens per second, at most `burst` saved. */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #at = 0;

  /** Creates a full bucket. */
  constructor(rate: number, burst: number) {
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
  }

  /** True when `cost` tokens are there at `now` (ms); takes nothing. */
  has(now: number, cost = 1): boolean {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#rate / 1000);
      this.#at = now;
    }
    return this.#tokens >= cost;
  }

  /** Takes `cost` tokens at `now` (ms); false when there are not enough. */
  take(now: number, cost = 1): boolean {
    if (!this.has(now, cost)) return false;
    this.#tokens -= cost;
    return true;
  }
}

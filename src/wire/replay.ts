/**
 * Replay guard: a timestamp window (± skew) plus a cache of every nonce seen whose
 * timestamp is still inside that window. A nonce is remembered until its timestamp
 * leaves the window (`timestamp + skew`), after which the window check alone refuses
 * it. O(1) per packet: a Map keyed by the nonce and expiry buckets of `skew/16` ms.
 * Hard cap on entries; when full it fails closed (`replay_cache_full`), never open.
 * Entries can be exported and re-imported so a restart does not reopen the window.
 * @module
 */
import type { Reason } from "./types.ts";

/** Reasons the replay guard refuses a packet. */
export type ReplayReason = Extract<
  Reason,
  "timestamp_old" | "timestamp_future" | "replay" | "replay_cache_full"
>;

/** Options of {@linkcode ReplayGuard}. */
export interface ReplayGuardOptions {
  /** Accepted clock difference, each way, in ms (default 30 000). */
  skewMs?: number;
  /** Hard cap on remembered nonces (default 1 000 000). */
  maxEntries?: number;
  /** Clock in ms (default `Date.now`). */
  clock?: () => number;
}

/** A remembered nonce, as exported for persistence. */
export interface ReplayEntry {
  /** The nonce (request id). */
  nonce: Uint8Array;
  /** Time (ms) after which the nonce need not be remembered. */
  expiresAt: number;
}

/** Counters of {@linkcode ReplayGuard}. */
export interface ReplayStats {
  /** Packets refused because their nonce was seen. */
  replays: number;
  /** Packets refused because the cache was full. */
  full: number;
  /** Packets refused for their timestamp. */
  outOfWindow: number;
}

/** Timestamp window + bounded nonce cache; see the module doc. */
export class ReplayGuard {
  /** Accepted skew in ms. */
  readonly skewMs: number;
  /** Hard cap on entries. */
  readonly maxEntries: number;
  /** Counters. */
  readonly stats: ReplayStats = { replays: 0, full: 0, outOfWindow: 0 };
  readonly #clock: () => number;
  readonly #bucketMs: number;
  readonly #seen = new Map<string, number>();
  readonly #buckets = new Map<number, string[]>();
  #low: number;

  /** A guard with the given window and cap. */
  constructor(opts: ReplayGuardOptions = {}) {
    this.skewMs = opts.skewMs ?? 30_000;
    this.maxEntries = opts.maxEntries ?? 1_000_000;
    if (!(this.skewMs >= 0) || !(this.maxEntries >= 1)) {
      throw new RangeError("bad replay guard options");
    }
    this.#clock = opts.clock ?? Date.now;
    this.#bucketMs = Math.max(1, Math.ceil(this.skewMs / 16));
    this.#low = Math.floor(this.#clock() / this.#bucketMs);
  }

  /** Number of remembered nonces. */
  get size(): number {
    return this.#seen.size;
  }

  /** Forgets every nonce whose expiry has passed. */
  #purge(now: number): void {
    const cur = Math.floor(now / this.#bucketMs);
    if (cur <= this.#low) return;
    if (cur - this.#low > this.#buckets.size) {
      for (const [b, keys] of this.#buckets) if (b < cur) this.#drop(b, keys);
    } else {
      for (let b = this.#low; b < cur; b++) {
        const keys = this.#buckets.get(b);
        if (keys !== undefined) this.#drop(b, keys);
      }
    }
    this.#low = cur;
  }

  #drop(bucket: number, keys: string[]): void {
    for (const k of keys) {
      const exp = this.#seen.get(k);
      if (exp !== undefined && Math.floor(exp / this.#bucketMs) === bucket) this.#seen.delete(k);
    }
    this.#buckets.delete(bucket);
  }

  /**
   * `null` when a packet with this nonce and timestamp may be accepted now; otherwise
   * why not. Does not remember the nonce: call {@linkcode add} once accepted.
   */
  check(nonce: Uint8Array, timestamp: number): ReplayReason | null {
    const now = this.#clock();
    if (!(timestamp >= now - this.skewMs)) return this.#count("timestamp_old");
    if (!(timestamp <= now + this.skewMs)) return this.#count("timestamp_future");
    this.#purge(now);
    if (this.#seen.has(nonce.toHex())) return this.#count("replay");
    if (this.#seen.size >= this.maxEntries) return this.#count("replay_cache_full");
    return null;
  }

  #count(r: ReplayReason): ReplayReason {
    if (r === "replay") this.stats.replays++;
    else if (r === "replay_cache_full") this.stats.full++;
    else this.stats.outOfWindow++;
    return r;
  }

  /** Remembers a nonce until `timestamp + skew`. False when the cache is full. */
  add(nonce: Uint8Array, timestamp: number): boolean {
    return this.restore(nonce, timestamp + this.skewMs);
  }

  /** {@linkcode check}, then {@linkcode add} when it passed. */
  checkAndAdd(nonce: Uint8Array, timestamp: number): ReplayReason | null {
    const r = this.check(nonce, timestamp);
    if (r !== null) return r;
    return this.add(nonce, timestamp) ? null : this.#count("replay_cache_full");
  }

  /**
   * Remembers a nonce until `expiresAt` (an entry from {@linkcode entries}, e.g. after a
   * restart). Already-expired entries are ignored (true). False when the cache is full.
   */
  restore(nonce: Uint8Array, expiresAt: number): boolean {
    const now = this.#clock();
    this.#purge(now);
    if (!(expiresAt >= now)) return true;
    const key = nonce.toHex();
    const old = this.#seen.get(key);
    if (old !== undefined && old >= expiresAt) return true;
    if (old === undefined && this.#seen.size >= this.maxEntries) return false;
    this.#seen.set(key, expiresAt);
    const b = Math.floor(expiresAt / this.#bucketMs);
    const list = this.#buckets.get(b);
    if (list === undefined) this.#buckets.set(b, [key]);
    else list.push(key);
    return true;
  }

  /** Every remembered nonce with its expiry (for persistence). */
  *entries(): IterableIterator<ReplayEntry> {
    for (const [k, expiresAt] of this.#seen) yield { nonce: Uint8Array.fromHex(k), expiresAt };
  }

  /** Forgets everything. */
  clear(): void {
    this.#seen.clear();
    this.#buckets.clear();
  }
}

/**
 * The state store: what must survive a restart (replay nonces, bans, grants, timers,
 * use counters). One interface, an embedded implementation (Deno KV) and, for clusters,
 * a shared one.
 * @module
 */

/** A namespaced record with an optional expiry (epoch ms). */
export interface StoredRecord<T> {
  /** Key inside the namespace. */
  key: string;
  /** The stored value (JSON-serialisable). */
  value: T;
  /** When the record stops existing (epoch ms), if it expires. */
  expiresAt?: number;
}

/** A nonce to remember until `expiresAt`. */
export interface NonceClaim {
  /** The 16-byte request nonce. */
  nonce: Uint8Array;
  /** Epoch ms after which the nonce can no longer be replayed (outside the time window). */
  expiresAt: number;
}

/** Persistent state shared by the daemon's stages. */
export interface StateStore {
  /**
   * Records nonces; returns, per nonce, `true` when this is its first sighting anywhere this
   * store reaches (for a cluster store: across nodes), `false` when it was seen before.
   */
  claimNonces(claims: readonly NonceClaim[]): Promise<boolean[]>;
  /** Every unexpired nonce (to warm the in-memory replay guard after a restart). */
  loadNonces(now: number): AsyncIterable<NonceClaim>;
  /** Reads one record. */
  get<T>(namespace: string, key: string): Promise<StoredRecord<T> | undefined>;
  /** Writes one record (replacing), expiring at `expiresAt` when given. */
  set<T>(namespace: string, key: string, value: T, expiresAt?: number): Promise<void>;
  /** Deletes one record; true when it existed. */
  delete(namespace: string, key: string): Promise<boolean>;
  /** Lists unexpired records of a namespace. */
  list<T>(namespace: string, now: number): Promise<StoredRecord<T>[]>;
  /** Atomically adds `delta` to a counter and returns the new value. */
  increment(namespace: string, key: string, delta: number): Promise<number>;
  /** Releases the store. */
  close(): Promise<void>;
}

/** Hex form of a nonce, as used in keys. */
export function nonceKey(nonce: Uint8Array): string {
  return nonce.toHex();
}

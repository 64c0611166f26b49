/**
 * Live firewall grant records by key, indexed by address, so that granting costs the same
 * with ten or a hundred thousand grants open (a scan of every record per grant made a burst
 * of grants quadratic). Expired records are swept at most once per `sweepEveryMs`; readers
 * skip expired ones themselves.
 *
 * @example
 * ```ts
 * const index = new GrantIndex<{ key: string; address: string; expiresAt: number }>();
 * index.set({ key: "1|ssh|192.0.2.7", address: "192.0.2.7", expiresAt: Date.now() + 60_000 });
 * [...index.forAddress("192.0.2.7")].length; // 1
 * ```
 * @module
 */

/** What the index needs of a record. */
export interface IndexedGrant {
  /** Unique key. */
  readonly key: string;
  /** The granted address (text form). */
  readonly address: string;
  /** Epoch ms after which the record is dead. */
  readonly expiresAt: number;
}

/** Records by key and by address. */
export class GrantIndex<R extends IndexedGrant> {
  readonly #byKey = new Map<string, R>();
  readonly #byAddress = new Map<string, Map<string, R>>();
  readonly #sweepEveryMs: number;
  #sweptAt = -Infinity;

  /** Creates an empty index that sweeps expired records at most every `sweepEveryMs`. */
  constructor(sweepEveryMs = 1000) {
    this.#sweepEveryMs = sweepEveryMs;
  }

  /** Records held (expired ones not yet swept included). */
  get size(): number {
    return this.#byKey.size;
  }

  /** The record with `key`, if held. */
  get(key: string): R | undefined {
    return this.#byKey.get(key);
  }

  /** Adds or replaces the record with the same key. */
  set(record: R): void {
    const previous = this.#byKey.get(record.key);
    if (previous !== undefined && previous.address !== record.address) this.#unindex(previous);
    this.#byKey.set(record.key, record);
    let forAddress = this.#byAddress.get(record.address);
    if (forAddress === undefined) {
      forAddress = new Map();
      this.#byAddress.set(record.address, forAddress);
    }
    forAddress.set(record.key, record);
  }

  /** Removes the record with `key`; true when there was one. */
  delete(key: string): boolean {
    const record = this.#byKey.get(key);
    if (record === undefined) return false;
    this.#byKey.delete(key);
    this.#unindex(record);
    return true;
  }

  /** Every record held (check `expiresAt`). */
  values(): IterableIterator<R> {
    return this.#byKey.values();
  }

  /** The records for `address` (check `expiresAt`). */
  forAddress(address: string): Iterable<R> {
    return this.#byAddress.get(address)?.values() ?? [];
  }

  /** Drops expired records, unless a sweep ran less than `sweepEveryMs` ago. */
  sweep(now: number): void {
    if (now - this.#sweptAt < this.#sweepEveryMs) return;
    this.#sweptAt = now;
    for (const [key, r] of this.#byKey) if (r.expiresAt <= now) this.delete(key);
  }

  #unindex(record: R): void {
    const forAddress = this.#byAddress.get(record.address);
    if (forAddress === undefined) return;
    forAddress.delete(record.key);
    if (forAddress.size === 0) this.#byAddress.delete(record.address);
  }
}

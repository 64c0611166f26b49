/**
 * Embedded state store on Deno KV (SQLite underneath), one file under the state directory.
 * @module
 */
import {
  checkEnvelope,
  type Envelope,
  type NonceClaim,
  nonceKey,
  type StateStore,
  type StoredRecord,
} from "./store.ts";
import { RecordAudit } from "./audit.ts";

/** Most mutations Deno KV takes in one atomic commit. */
const MAX_MUTATIONS = 500;

interface PendingWrite {
  key: Deno.KvKey;
  value: unknown;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One caller's increment, waiting for its group's commit. */
interface PendingIncrement {
  delta: number;
  expiresAt: number | undefined;
  resolve: (value: number) => void;
  reject: (err: unknown) => void;
}

/** The increments of one counter waiting for the same commit. */
interface CounterGroup {
  namespace: string;
  key: string;
  waiting: PendingIncrement[];
}

/** Most counters in one commit (`getMany` reads at most 10 keys). */
const COUNTERS_PER_COMMIT = 10;

/** A {@linkcode StateStore} in a Deno KV database file. */
export class KvStateStore implements StateStore {
  readonly #kv: Deno.Kv;
  /** Records this store or its readers refused. */
  readonly audit: RecordAudit;
  /**
   * Writes made in the same event-loop turn go to SQLite in one commit: each commit costs
   * about 2 ms here, so one per grant capped a burst of firewall grants near 500/s.
   * Every caller still waits for its own write to be durable.
   */
  #writes: PendingWrite[] = [];
  #writeScheduled = false;
  #flushed: Promise<void> = Promise.resolve();
  /** Increments waiting for the next counter commit, by counter. */
  readonly #counters = new Map<string, CounterGroup>();
  #countersDraining = false;

  private constructor(kv: Deno.Kv, audit: RecordAudit) {
    this.#kv = kv;
    this.audit = audit;
  }

  /** Opens (creating) the store at `dir/state.kv`; the directory is created 0700. */
  static async open(dir: string, audit = new RecordAudit()): Promise<KvStateStore> {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return new KvStateStore(await Deno.openKv(`${dir}/state.kv`), audit);
  }

  /** Nonces are remembered by this process's replay guard; here they are made durable. */
  async claimNonces(claims: readonly NonceClaim[]): Promise<boolean[]> {
    const now = Date.now();
    for (let i = 0; i < claims.length; i += MAX_MUTATIONS) {
      const op = this.#kv.atomic();
      for (const c of claims.slice(i, i + MAX_MUTATIONS)) {
        op.set(["nonce", nonceKey(c.nonce)], c.expiresAt, {
          expireIn: Math.max(1000, c.expiresAt - now),
        });
      }
      const res = await op.commit();
      if (!res.ok) throw new Error("state store: nonce commit failed");
    }
    return claims.map(() => true);
  }

  /** Yields every nonce that has not expired yet. */
  async *loadNonces(now: number): AsyncIterable<NonceClaim> {
    for await (const entry of this.#kv.list<unknown>({ prefix: ["nonce"] })) {
      const expiresAt = entry.value;
      const hex = entry.key[1];
      if (
        typeof expiresAt !== "number" || !Number.isFinite(expiresAt) ||
        typeof hex !== "string" || !/^[0-9a-f]{32}$/.test(hex) || entry.key.length !== 2
      ) {
        this.audit.reject("nonce", String(hex), "not a 16-byte hex nonce with a numeric expiry");
        continue;
      }
      if (expiresAt <= now) continue;
      yield { nonce: Uint8Array.fromHex(hex), expiresAt };
    }
  }

  /** Reads one record, treating expired ones as absent. */
  async get<T>(namespace: string, key: string): Promise<StoredRecord<T> | undefined> {
    const entry = await this.#kv.get<unknown>(["rec", namespace, key]);
    if (entry.versionstamp === null) return undefined;
    const env = checkEnvelope(entry.value);
    if (typeof env === "string") {
      this.audit.reject(namespace, key, env);
      return undefined;
    }
    if (env.e !== undefined && env.e <= Date.now()) return undefined;
    return { key, value: env.v as T, expiresAt: env.e };
  }

  /** Writes one record (committed together with the other writes of the same turn). */
  set<T>(namespace: string, key: string, value: T, expiresAt?: number): Promise<void> {
    const envelope: Envelope = expiresAt === undefined ? { v: value } : { v: value, e: expiresAt };
    return new Promise((resolve, reject) => {
      this.#writes.push({ key: ["rec", namespace, key], value: envelope, resolve, reject });
      if (!this.#writeScheduled) {
        this.#writeScheduled = true;
        const { promise, resolve: done } = Promise.withResolvers<void>();
        this.#flushed = promise;
        setTimeout(() => this.#flushWrites().finally(done), 0);
      }
    });
  }

  async #flushWrites(): Promise<void> {
    this.#writeScheduled = false;
    while (this.#writes.length > 0) {
      const batch = this.#writes.splice(0, MAX_MUTATIONS);
      const op = this.#kv.atomic();
      for (const w of batch) op.set(w.key, w.value);
      try {
        const res = await op.commit();
        if (!res.ok) throw new Error("state store: commit failed");
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
  }

  /** Deletes one record (after any queued write, so a set then delete stays deleted). */
  async delete(namespace: string, key: string): Promise<boolean> {
    await this.#flushed;
    const existing = await this.#kv.get(["rec", namespace, key]);
    if (existing.versionstamp === null) return false;
    await this.#kv.delete(["rec", namespace, key]);
    return true;
  }

  /** Lists unexpired records of a namespace, removing expired ones it meets. */
  async list<T>(namespace: string, now: number): Promise<StoredRecord<T>[]> {
    const out: StoredRecord<T>[] = [];
    for await (const entry of this.#kv.list<unknown>({ prefix: ["rec", namespace] })) {
      const key = entry.key[2];
      const env = checkEnvelope(entry.value);
      if (typeof key !== "string" || entry.key.length !== 3) {
        this.audit.reject(namespace, String(key), "key is not a string");
        continue;
      }
      if (typeof env === "string") {
        this.audit.reject(namespace, key, env);
        continue;
      }
      if (env.e !== undefined && env.e <= now) {
        await this.#kv.delete(entry.key);
        continue;
      }
      out.push({ key, value: env.v as T, expiresAt: env.e });
    }
    return out;
  }

  /**
   * Adds to a counter atomically (retrying on conflict). Increments that overlap are
   * committed together: one read and one write for all of them, every counter they touch
   * (up to {@linkcode COUNTERS_PER_COMMIT} a commit), each caller getting the value after its
   * own delta, as if they had run one after another. Every request of a user counts its use
   * twice (ever, today); one transaction per increment was most of an exec request's store
   * work under concurrency.
   */
  increment(
    namespace: string,
    key: string,
    delta: number,
    expiresAt?: number,
  ): Promise<number> {
    const id = `${namespace}\u0000${key}`;
    let group = this.#counters.get(id);
    if (!group) {
      group = { namespace, key, waiting: [] };
      this.#counters.set(id, group);
    }
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    group.waiting.push({ delta, expiresAt, resolve, reject });
    if (!this.#countersDraining) {
      this.#countersDraining = true;
      queueMicrotask(() => this.#drainCounters());
    }
    return promise;
  }

  /** Commits the waiting increments, round after round, until none wait. */
  async #drainCounters(): Promise<void> {
    try {
      while (this.#counters.size > 0) {
        const groups = [...this.#counters.values()];
        this.#counters.clear();
        for (let i = 0; i < groups.length; i += COUNTERS_PER_COMMIT) {
          const part = groups.slice(i, i + COUNTERS_PER_COMMIT);
          try {
            const totals = await this.#incrementOnce(part);
            part.forEach((g, j) => {
              let value = totals[j] - g.waiting.reduce((sum, w) => sum + w.delta, 0);
              for (const w of g.waiting) w.resolve(value += w.delta);
            });
          } catch (err) {
            for (const g of part) for (const w of g.waiting) w.reject(err);
          }
        }
      }
    } finally {
      this.#countersDraining = false;
    }
  }

  /** Adds each group's deltas to its counter in one transaction; the new values. */
  async #incrementOnce(groups: readonly CounterGroup[]): Promise<number[]> {
    const keys = groups.map((g) => ["ctr", g.namespace, g.key]);
    const deltas = groups.map((g) => g.waiting.reduce((sum, w) => sum + w.delta, 0));
    const expiries = groups.map((g) => {
      const es = g.waiting.map((w) => w.expiresAt).filter((e) => e !== undefined);
      return es.length > 0 ? Math.max(...es) : undefined;
    });
    for (let attempt = 0; attempt < 100; attempt++) {
      const cur = await this.#kv.getMany<number[]>(keys);
      const op = this.#kv.atomic();
      const next = cur.map((c, j) => (typeof c.value === "number" ? c.value : 0) + deltas[j]);
      cur.forEach((c, j) => {
        const e = expiries[j];
        const expireIn = e === undefined ? undefined : Math.max(1000, e - Date.now());
        op.check(c).set(keys[j], next[j], { expireIn });
      });
      const res = await op.commit();
      if (res.ok) return next;
    }
    throw new Error("state store: counter contention");
  }

  /** Forgets a counter. */
  async resetCounter(namespace: string, key: string): Promise<void> {
    await this.#kv.delete(["ctr", namespace, key]);
  }

  /** Closes the database (after queued writes are committed). */
  async close(): Promise<void> {
    await this.#flushed;
    this.#kv.close();
  }
}

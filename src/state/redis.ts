/**
 * Cluster state store on Redis: several daemons behind anycast share replay nonces (one
 * `SET NX PX` each, pipelined), bans, grants, timers and counters, so a packet replayed to
 * another node is refused there too.
 * @module
 */
import { Redis } from "ioredis";
import { type NonceClaim, nonceKey, type StateStore, type StoredRecord } from "./store.ts";

/** A {@linkcode StateStore} in Redis. */
export class RedisStateStore implements StateStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  private constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  /** Connects to `url` (redis://host:port/db); keys start with `prefix`. */
  static async connect(url: string, prefix = "siglatch:"): Promise<RedisStateStore> {
    const redis = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      connectTimeout: 3000,
      enableOfflineQueue: false,
    });
    // ioredis emits "error" on every failed reconnect; failures surface through commands.
    redis.on("error", () => {});
    await redis.connect();
    return new RedisStateStore(redis, prefix);
  }

  #k(...parts: string[]): string {
    return this.#prefix + parts.join(":");
  }

  /** Claims nonces cluster-wide with pipelined SET NX PX: true = first sighting anywhere. */
  async claimNonces(claims: readonly NonceClaim[]): Promise<boolean[]> {
    const now = Date.now();
    const pipeline = this.#redis.pipeline();
    for (const c of claims) {
      pipeline.set(
        this.#k("nonce", nonceKey(c.nonce)),
        String(c.expiresAt),
        "PX",
        Math.max(1000, c.expiresAt - now),
        "NX",
      );
    }
    const results = await pipeline.exec();
    if (!results) throw new Error("redis: pipeline returned nothing");
    return results.map(([err, value]) => {
      if (err) throw err;
      return value === "OK";
    });
  }

  /** Nonces are checked in Redis itself on every claim; nothing to warm locally. */
  async *loadNonces(_now: number): AsyncIterable<NonceClaim> {}

  /** Reads one record. */
  async get<T>(namespace: string, key: string): Promise<StoredRecord<T> | undefined> {
    const raw = await this.#redis.hget(this.#k("rec", namespace), key);
    if (raw === null) return undefined;
    const env = JSON.parse(raw) as { v: T; e?: number };
    if (env.e !== undefined && env.e <= Date.now()) return undefined;
    return { key, value: env.v, expiresAt: env.e };
  }

  /** Writes one record. */
  async set<T>(namespace: string, key: string, value: T, expiresAt?: number): Promise<void> {
    await this.#redis.hset(
      this.#k("rec", namespace),
      key,
      JSON.stringify(expiresAt === undefined ? { v: value } : { v: value, e: expiresAt }),
    );
  }

  /** Deletes one record. */
  async delete(namespace: string, key: string): Promise<boolean> {
    return (await this.#redis.hdel(this.#k("rec", namespace), key)) > 0;
  }

  /** Lists unexpired records, removing expired ones. */
  async list<T>(namespace: string, now: number): Promise<StoredRecord<T>[]> {
    const all = await this.#redis.hgetall(this.#k("rec", namespace));
    const out: StoredRecord<T>[] = [];
    const expired: string[] = [];
    for (const [key, raw] of Object.entries(all)) {
      const env = JSON.parse(raw) as { v: T; e?: number };
      if (env.e !== undefined && env.e <= now) expired.push(key);
      else out.push({ key, value: env.v, expiresAt: env.e });
    }
    if (expired.length > 0) await this.#redis.hdel(this.#k("rec", namespace), ...expired);
    return out;
  }

  /** Atomic counter. */
  increment(namespace: string, key: string, delta: number): Promise<number> {
    return this.#redis.hincrby(this.#k("ctr", namespace), key, delta);
  }

  /** Disconnects. */
  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}

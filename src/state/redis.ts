/**
 * Cluster state store on Redis: several daemons behind anycast share replay nonces (one
 * `SET NX PX` each, pipelined), bans, grants, timers and counters, so a packet replayed to
 * another node is refused there too.
 *
 * Whoever can write this Redis can write what the daemons read back, so the connection is
 * authenticated (`redis://user:password@host:port/db`, an ACL user, or a password from
 * `state.redis_password_file`) and, with `rediss://`, encrypted and the server verified (TLS,
 * against the system roots or `state.redis_ca_file`). What is read back is validated anyway.
 * @module
 */
import { Redis } from "ioredis";
import { type RedisConnectOptions, redisOptions } from "./redis_url.ts";
import {
  type NonceClaim,
  nonceKey,
  parseEnvelope,
  type StateStore,
  type StoredRecord,
} from "./store.ts";
import { RecordAudit } from "./audit.ts";

export { type RedisConnectOptions, redisOptions } from "./redis_url.ts";

/** A {@linkcode StateStore} in Redis. */
export class RedisStateStore implements StateStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  /** Records this store or its readers refused. */
  readonly audit: RecordAudit;

  private constructor(redis: Redis, prefix: string, audit: RecordAudit) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.audit = audit;
  }

  /**
   * Connects to `url` (see {@linkcode redisOptions}: credentials, TLS); keys start with
   * `opts.prefix`. Fails when the server refuses the credentials (no half-open store).
   */
  static async connect(
    url: string,
    opts: RedisConnectOptions | string = {},
  ): Promise<RedisStateStore> {
    const o = typeof opts === "string" ? { prefix: opts } : opts;
    const redis = new Redis(redisOptions(url, o));
    // ioredis emits "error" on every failed reconnect; failures surface through commands.
    // The first one is kept: it says why (NOAUTH, WRONGPASS, a certificate) where the
    // rejected connect only says "Connection is closed".
    let cause: Error | undefined;
    redis.on("error", (err: Error) => cause ??= err);
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      throw cause ?? err;
    }
    return new RedisStateStore(redis, o.prefix ?? "siglatch:", o.audit ?? new RecordAudit());
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
    const raw = await this.#redis.hget(this.#k("rec", namespace), key).catch((err) =>
      this.#wrongType(namespace, err)
    );
    if (raw === null) return undefined;
    const env = parseEnvelope(raw);
    if (typeof env === "string") {
      this.audit.reject(namespace, key, env);
      return undefined;
    }
    if (env.e !== undefined && env.e <= Date.now()) return undefined;
    return { key, value: env.v as T, expiresAt: env.e };
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
    const all = await this.#redis.hgetall(this.#k("rec", namespace)).catch((err) =>
      this.#wrongType(namespace, err) ?? {}
    );
    const out: StoredRecord<T>[] = [];
    const expired: string[] = [];
    for (const [key, raw] of Object.entries(all)) {
      const env = parseEnvelope(raw);
      if (typeof env === "string") this.audit.reject(namespace, key, env);
      else if (env.e !== undefined && env.e <= now) expired.push(key);
      else out.push({ key, value: env.v as T, expiresAt: env.e });
    }
    if (expired.length > 0) await this.#redis.hdel(this.#k("rec", namespace), ...expired);
    return out;
  }

  /** A namespace key that is not a hash (someone wrote over it): refused as empty. */
  #wrongType(namespace: string, err: unknown): null {
    if (!(err instanceof Error) || !err.message.startsWith("WRONGTYPE")) throw err;
    this.audit.reject(namespace, "*", "the namespace key is not a Redis hash");
    return null;
  }

  /** Atomic counter. */
  async increment(
    namespace: string,
    key: string,
    delta: number,
    expiresAt?: number,
  ): Promise<number> {
    const k = this.#k("ctr", namespace);
    if (expiresAt === undefined) return await this.#redis.hincrby(k, key, delta);
    const res = await this.#redis.multi().hincrby(k, key, delta).pexpireat(k, expiresAt).exec();
    const [err, value] = res?.[0] ?? [new Error("redis: transaction returned nothing"), 0];
    if (err) throw err;
    return Number(value);
  }

  /** Forgets a counter. */
  async resetCounter(namespace: string, key: string): Promise<void> {
    await this.#redis.hdel(this.#k("ctr", namespace), key);
  }

  /** Disconnects. */
  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}

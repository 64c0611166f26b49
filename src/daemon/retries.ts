/**
 * Idempotent retries: a client that lost a reply retries with a new nonce but the same
 * retry id; the action must not run again. Each accepted request's final reply is kept
 * until its nonce would expire and answers its retries. Bounded: the memory cache holds
 * at most `maxEntries` finished replies (oldest dropped; the state store keeps them for the
 * window, so a cluster's other nodes and a dropped entry still find them), and a request
 * still running is never dropped (their number is bounded by the action limiter).
 * @module
 */
import type { StateStore } from "../state/store.ts";
import { sha256 } from "../crypto/hkdf.ts";

/** What a retry is answered with: the first request's reply. */
export interface CachedReply {
  /** Reply status. */
  status: number;
  /** Exit code. */
  exitCode: number;
  /** The reply body (JSON-able). */
  body: Record<string, unknown>;
  /** Output, base64 (already cut to what one reply can carry). */
  output?: string;
}

/** What {@linkcode RetryCache.begin} found. */
export type RetryState =
  | { kind: "new" }
  | { kind: "running" }
  | { kind: "done"; reply: CachedReply };

/** State-store namespace of finished replies. */
const NAMESPACE = "retry";

type Entry = { running: true; expiresAt: number } | {
  running: false;
  expiresAt: number;
  reply: CachedReply;
};

/** The retry cache. */
export class RetryCache {
  readonly #store: StateStore;
  readonly #max: number;
  readonly #clock: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #claim: (nonce: Uint8Array, expiresAt: number) => Promise<boolean>;

  /**
   * Creates a cache over `store`, holding at most `maxEntries` finished replies in memory.
   * `claim` makes a retry id durable (default: its own store commit; the daemon passes its
   * nonce batcher, so a request's nonce and retry id share one commit).
   */
  constructor(
    store: StateStore,
    maxEntries: number,
    clock: () => number = Date.now,
    claim?: (nonce: Uint8Array, expiresAt: number) => Promise<boolean>,
  ) {
    this.#store = store;
    this.#max = maxEntries;
    this.#clock = clock;
    this.#claim = claim ??
      (async (nonce, expiresAt) => (await store.claimNonces([{ nonce, expiresAt }]))[0]);
  }

  /** Finished replies held in memory. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Starts the request `retryId` of `userId`, or finds it already started (`running`: answer
   * nothing, the client retries again) or finished (`done`: answer with its reply).
   */
  async begin(userId: number, retryId: Uint8Array, expiresAt: number): Promise<RetryState> {
    const key = retryKey(userId, retryId);
    const now = this.#clock();
    const local = this.#entries.get(key);
    if (local && local.expiresAt > now) {
      return local.running ? { kind: "running" } : { kind: "done", reply: local.reply };
    }
    // Mark it running before any await, so a retry arriving meanwhile waits.
    this.#entries.set(key, { running: true, expiresAt });
    // The stored reply (another node, or before a restart) and the claim (across a cluster,
    // the first node to claim the id runs it) at once: one round trip, not two in a row.
    const [stored, first] = await Promise.all([
      this.#store.get<unknown>(NAMESPACE, key),
      this.#claim(Uint8Array.fromHex(key), expiresAt),
    ]);
    const reply = stored ? readCachedReply(stored.value) : undefined;
    if (reply) {
      this.#entries.set(key, { running: false, expiresAt, reply });
      return { kind: "done", reply };
    }
    if (!first) {
      this.#entries.delete(key);
      return { kind: "running" };
    }
    return { kind: "new" };
  }

  /** Records the final reply of a started request; its retries get it until `expiresAt`. */
  async finish(userId: number, retryId: Uint8Array, reply: CachedReply): Promise<void> {
    const key = retryKey(userId, retryId);
    const entry = this.#entries.get(key);
    const expiresAt = entry?.expiresAt ?? this.#clock();
    this.#entries.delete(key);
    this.#entries.set(key, { running: false, expiresAt, reply });
    this.#evict();
    await this.#store.set(NAMESPACE, key, reply, expiresAt);
  }

  /** Forgets a started request that did not run (e.g. `busy`): a retry may run it. */
  abandon(userId: number, retryId: Uint8Array): void {
    this.#entries.delete(retryKey(userId, retryId));
  }

  /** Drops expired entries, then the oldest finished ones over the bound. */
  #evict(): void {
    const now = this.#clock();
    let over = this.#entries.size - this.#max;
    for (const [key, e] of this.#entries) {
      if (over <= 0 && e.expiresAt > now) break;
      if (e.running && e.expiresAt > now) continue;
      this.#entries.delete(key);
      over--;
    }
  }
}

/** Longest stored body or output (base64) a cached reply may carry. */
const MAX_CACHED_TEXT = 8192;

/**
 * A stored reply read back, or undefined when it is not one (the store is input: a record
 * someone else wrote must not become a forged answer of any size or shape).
 */
export function readCachedReply(v: unknown): CachedReply | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const small = (n: unknown, min: number, max: number) =>
    typeof n === "number" && Number.isInteger(n) && n >= min && n <= max;
  if (!small(r.status, 0, 255) || !small(r.exitCode, -2147483648, 2147483647)) return undefined;
  if (typeof r.body !== "object" || r.body === null || Array.isArray(r.body)) return undefined;
  if (JSON.stringify(r.body).length > MAX_CACHED_TEXT) return undefined;
  if (r.output !== undefined) {
    if (typeof r.output !== "string" || r.output.length > MAX_CACHED_TEXT) return undefined;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(r.output)) return undefined;
  }
  const reply: CachedReply = {
    status: r.status as number,
    exitCode: r.exitCode as number,
    body: r.body as Record<string, unknown>,
  };
  if (r.output !== undefined) reply.output = r.output as string;
  return reply;
}

/** The 16-byte key of a user's retry id (hex). */
function retryKey(userId: number, retryId: Uint8Array): string {
  const input = new Uint8Array(4 + 6 + retryId.length);
  new DataView(input.buffer).setUint32(0, userId);
  input.set(new TextEncoder().encode("retry:"), 4);
  input.set(retryId, 10);
  return sha256(input).subarray(0, 16).toHex();
}

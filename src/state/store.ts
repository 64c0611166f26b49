/**
 * The state store: what must survive a restart (replay nonces, bans, grants, timers,
 * use counters). One interface, an embedded implementation (Deno KV) and, for clusters,
 * a shared one.
 * @module
 */
import type { RecordAudit } from "./audit.ts";

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

/**
 * Persistent state shared by the daemon's stages.
 *
 * What comes back from `get` and `list` is input, not trusted data: the type parameter is
 * what the caller hopes for, and every reader validates each value before using it (see
 * `audit`). The store itself skips envelopes it cannot read (not JSON, not an object,
 * oversized, a non-numeric expiry) and reports them to `audit`.
 */
export interface StateStore {
  /** Where this store and its readers report records they refused. */
  readonly audit: RecordAudit;
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
  /**
   * Atomically adds `delta` to a counter and returns the new value. With `expiresAt` the
   * counter may be forgotten after that time (Redis: the namespace's counters expire
   * together, so use one namespace per period).
   */
  increment(namespace: string, key: string, delta: number, expiresAt?: number): Promise<number>;
  /** Forgets a counter (it reads 0 again). */
  resetCounter(namespace: string, key: string): Promise<void>;
  /** Releases the store. */
  close(): Promise<void>;
}

/** Largest stored envelope read back (bytes of JSON); larger ones are refused unparsed. */
export const MAX_ENVELOPE_BYTES = 16 * 1024;

/** A stored value with its optional expiry, as both stores keep it. */
export interface Envelope {
  /** The value. */
  v: unknown;
  /** Expiry (epoch ms). */
  e?: number;
}

/** Checks an envelope read from a store; returns it, or why it is refused. */
export function checkEnvelope(raw: unknown): Envelope | string {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return "not an envelope";
  const env = raw as Record<string, unknown>;
  if (!("v" in env)) return "envelope without a value";
  for (const k of Object.keys(env)) if (k !== "v" && k !== "e") return "unknown envelope field";
  if (env.e !== undefined && (typeof env.e !== "number" || !Number.isFinite(env.e))) {
    return "expiry is not a number";
  }
  return env as unknown as Envelope;
}

/** Parses a JSON envelope (the Redis form); returns it, or why it is refused. */
export function parseEnvelope(text: string): Envelope | string {
  if (text.length > MAX_ENVELOPE_BYTES) return `oversized (${text.length} bytes)`;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  return checkEnvelope(raw);
}

/** Hex form of a nonce, as used in keys. */
export function nonceKey(nonce: Uint8Array): string {
  return nonce.toHex();
}

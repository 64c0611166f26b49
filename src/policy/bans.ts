/**
 * Persistent bans: one record per banned source in the state store (namespace `bans`,
 * key = source text such as `192.0.2.7` or `2001:db8::/64`), expiring with the ban.
 *
 * The daemon loads them on start; `siglatch bans` edits them while the daemon runs (Deno KV
 * is SQLite underneath and may be opened by both processes) and the daemon picks the
 * changes up with {@linkcode BanList.diff}, which `SourceDefense` calls every few seconds.
 * @module
 */
import type { StateStore } from "../state/store.ts";
import type { Ban } from "./ratelimit.ts";
import { nftSource } from "../nft/address.ts";

/** The state-store namespace of bans. */
export const BANS_NAMESPACE = "bans";

/** A ban as stored. */
export interface StoredBan {
  /** Why. */
  reason: string;
  /** End (epoch ms); absent when permanent. */
  until?: number;
  /** Present and true when permanent. */
  permanent?: true;
  /** Bans this source has had, this one included. */
  count: number;
  /** When it was made (epoch ms). */
  created: number;
}

/** Converts a ban to its stored form. */
export function toStored(ban: Ban): StoredBan {
  return ban.until === null
    ? { reason: ban.reason, permanent: true, count: ban.count, created: ban.created }
    : { reason: ban.reason, until: ban.until, count: ban.count, created: ban.created };
}

const BAN_FIELDS = new Set(["reason", "until", "permanent", "count", "created"]);
const MAX_TIME = 9_999_999_999_999;

/**
 * Converts a stored record back to a ban after checking it: the source (the record key)
 * must be a canonical address or a canonical prefix with clear host bits (the only forms
 * nft takes), `reason` a short printable string, times and count in range, no unknown
 * field. Returns the ban, or why the record is refused.
 */
export function readStoredBan(source: string, value: unknown): Ban | string {
  try {
    nftSource(source);
  } catch {
    return "source is not a canonical address or prefix";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not an object";
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) if (!BAN_FIELDS.has(k)) return `unknown field ${k}`;
  // deno-lint-ignore no-control-regex
  if (typeof v.reason !== "string" || v.reason.length > 128 || /[\x00-\x1f\x7f]/.test(v.reason)) {
    return "bad reason";
  }
  const until = v.permanent === true ? null : v.until;
  if (v.permanent !== undefined && v.permanent !== true) return "bad permanent";
  if (
    until !== null &&
    (typeof until !== "number" || !Number.isInteger(until) || until < 0 || until > MAX_TIME)
  ) return "bad until";
  if (typeof v.count !== "number" || !Number.isInteger(v.count) || v.count < 1 || v.count > 1e9) {
    return "bad count";
  }
  if (
    typeof v.created !== "number" || !Number.isInteger(v.created) || v.created < 0 ||
    v.created > MAX_TIME
  ) return "bad created";
  return {
    source,
    family: source.includes(":") ? 6 : 4,
    reason: v.reason,
    created: v.created,
    until,
    count: v.count,
  };
}

/** Converts a stored record back to a ban; `undefined` when the record is malformed. */
export function fromStored(source: string, value: unknown): Ban | undefined {
  const ban = readStoredBan(source, value);
  return typeof ban === "string" ? undefined : ban;
}

/** What changed in the store since the last look. */
export interface BanDiff {
  /** Bans that are new or changed (different end or count). */
  upserted: Ban[];
  /** Sources whose ban disappeared (removed, or expired). */
  removed: string[];
}

function sameBan(a: Ban, b: Ban): boolean {
  return a.until === b.until && a.count === b.count && a.reason === b.reason;
}

/** Bans kept in a {@linkcode StateStore}. */
export class BanList {
  readonly #store: StateStore;
  /** What the last `load`/`diff` saw, plus what this process wrote since. */
  #known = new Map<string, Ban>();
  /** While a `diff` reads the store: this process's own writes meanwhile (null = removed). */
  #writesDuringDiff: Map<string, Ban | null> | null = null;

  /** Creates a list over an open store. */
  constructor(store: StateStore) {
    this.#store = store;
  }

  /** Every unexpired ban in the store (expired ones are dropped from the store as met). */
  async load(now: number): Promise<Ban[]> {
    const out: Ban[] = [];
    for (const rec of await this.#store.list<unknown>(BANS_NAMESPACE, now)) {
      const ban = readStoredBan(rec.key, rec.value);
      if (typeof ban === "string") {
        this.#store.audit.reject(BANS_NAMESPACE, rec.key, ban);
        continue;
      }
      if (ban.until !== null && ban.until <= now) continue;
      out.push(ban);
    }
    this.#known = new Map(out.map((b) => [b.source, b]));
    return out;
  }

  /** Same as {@linkcode load}: every unexpired ban. */
  list(now: number): Promise<Ban[]> {
    return this.load(now);
  }

  /** Reads one ban. */
  async get(source: string, now: number): Promise<Ban | undefined> {
    const rec = await this.#store.get<unknown>(BANS_NAMESPACE, source);
    if (!rec) return undefined;
    const ban = readStoredBan(source, rec.value);
    if (typeof ban === "string") {
      this.#store.audit.reject(BANS_NAMESPACE, source, ban);
      return undefined;
    }
    return ban.until === null || ban.until > now ? ban : undefined;
  }

  /** Writes (or replaces) a ban; it expires from the store when it ends. */
  async add(ban: Ban): Promise<void> {
    this.#writesDuringDiff?.set(ban.source, ban);
    await this.#store.set<StoredBan>(
      BANS_NAMESPACE,
      ban.source,
      toStored(ban),
      ban.until ?? undefined,
    );
    this.#known.set(ban.source, ban);
  }

  /** Deletes a ban; true when there was one. */
  async remove(source: string): Promise<boolean> {
    this.#writesDuringDiff?.set(source, null);
    this.#known.delete(source);
    return await this.#store.delete(BANS_NAMESPACE, source);
  }

  /**
   * Reads the store and reports what changed since the last `load`/`diff` (including this
   * process's own `add`/`remove`, which are not reported back).
   */
  async diff(now: number): Promise<BanDiff> {
    const before = new Map(this.#known);
    const own = new Map<string, Ban | null>();
    this.#writesDuringDiff = own;
    let current: Ban[];
    try {
      current = await this.load(now);
    } finally {
      this.#writesDuringDiff = null;
    }
    // Our own writes that raced with the read win over what the read saw.
    for (const [source, ban] of own) {
      if (ban) this.#known.set(source, ban);
      else this.#known.delete(source);
    }
    const upserted: Ban[] = [];
    for (const b of current) {
      if (own.has(b.source)) continue;
      const old = before.get(b.source);
      if (!old || !sameBan(old, b)) upserted.push(b);
    }
    const removed: string[] = [];
    for (const source of before.keys()) {
      if (!own.has(source) && !this.#known.has(source)) removed.push(source);
    }
    return { upserted, removed };
  }
}

/**
 * The schedule of user key rotation (`keys.rotate_users_every`): every HMAC user (config or
 * enrolled) gets a new key once per period, the way `admin rotate user NAME` makes one
 * (src/rotation/user_keys.ts), once per cluster.
 *
 * Each user has a record in the state store (`user_key_schedule`, key: user id) with when its
 * key was last rotated and how many times. A node that finds a user due first claims that
 * rotation with an atomic increment (`user_key_claim`, key: `id:count`): one rotation per
 * period on a Redis cluster, not one per node. A user whose last rotation is still pending
 * (the client has not used its new key and the grace period lasts) waits: rotating again
 * would replace the key it has not received yet, and its key file would then hold a key the
 * server no longer takes.
 * @module
 */
import type { StateStore } from "../state/store.ts";
import type { UserRuntime } from "../daemon/runtime.ts";
import type { UserKeyRotation } from "./user_keys.ts";

/** Namespace of the schedule records (key: user id). */
export const USER_SCHEDULE_NS = "user_key_schedule";
/** Namespace of the one-rotation-per-period claims (key: `id:count`). */
export const USER_CLAIM_NS = "user_key_claim";
/** Most schedule records read back (as many as rotated users are kept). */
const MAX_RECORDS = 4096;

/** A user's schedule record as stored. */
export interface UserScheduleRecord {
  /** When the key was last rotated by the schedule, or first seen by it (epoch ms). */
  since: number;
  /** Rotations the schedule made so far. */
  n: number;
}

/** Checks a record read from the store. */
export function checkUserSchedule(v: unknown): UserScheduleRecord | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  return Number.isFinite(r.since) && Number.isInteger(r.n) && (r.n as number) >= 0
    ? { since: r.since as number, n: r.n as number }
    : undefined;
}

/** What one run of the schedule needs. */
export interface UserScheduleRun {
  /** The users of the running runtime (config and enrolled). */
  users: Iterable<UserRuntime>;
  /** `keys.rotate_users_every` (ms). */
  everyMs: number;
  /** `keys.rotation_grace` (ms). */
  graceMs: number;
}

/** Rotates users' HMAC keys when their period is up. */
export class UserKeySchedule {
  readonly #store: StateStore;
  readonly #keys: UserKeyRotation;
  readonly #clock: () => number;

  /** Creates the schedule over the store and the user key rotations. */
  constructor(store: StateStore, keys: UserKeyRotation, clock: () => number) {
    this.#store = store;
    this.#keys = keys;
    this.#clock = clock;
  }

  /**
   * Rotates every due HMAC user this node wins the claim for; returns their names. One list
   * of the store per run, plus a write for each user seen for the first time and a claim for
   * each due one.
   */
  async run(r: UserScheduleRun): Promise<string[]> {
    const now = this.#clock();
    const records = new Map<string, UserScheduleRecord>();
    for (const e of await this.#store.list<unknown>(USER_SCHEDULE_NS, now)) {
      const rec = checkUserSchedule(e.value);
      if (rec && records.size < MAX_RECORDS) records.set(e.key, rec);
    }
    const rotated: string[] = [];
    for (const user of r.users) {
      if (!user.verifier.hmacKey) continue; // Ed25519 users make their own keys
      if (user.verifier.previousHmacKey) continue; // last rotation not received yet
      const id = String(user.config.id);
      const rec = records.get(id);
      if (rec === undefined) {
        if (records.size >= MAX_RECORDS) continue;
        records.set(id, { since: now, n: 0 });
        await this.#store.set(USER_SCHEDULE_NS, id, { since: now, n: 0 });
        continue;
      }
      if (rec.since + r.everyMs > now) continue;
      const claim = await this.#store.increment(USER_CLAIM_NS, `${id}:${rec.n}`, 1);
      if (claim !== 1) continue; // another node rotates this one
      await this.#keys.rotate(user, r.graceMs);
      await this.#store.set(USER_SCHEDULE_NS, id, { since: now, n: rec.n + 1 });
      rotated.push(user.config.name);
    }
    return rotated;
  }
}

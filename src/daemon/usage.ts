/**
 * Use counts of users: `max_uses` (ever) and `max_uses_per_day` (per UTC day), kept in the
 * state store so every node of a cluster counts the same uses.
 *
 * Only requests that were accepted AND ran count. A user with a limit reserves a use before
 * the action runs (an atomic increment, so two nodes cannot both take the last use) and
 * gives it back when the action did not run (busy, dry run, refused, failed to start). A
 * user without a limit is counted after the action ran, off the request's path.
 * @module
 */
import type { StateStore } from "../state/store.ts";

/** Namespace of the all-time counters (key: user id). */
export const USES_NS = "uses";
/** Prefix of the per-day namespaces (`uses_day:2026-11-29`, key: user id). */
export const USES_DAY_NS = "uses_day:";

const DAY_MS = 86_400_000;

/** The limits of one user, as the config (or an enrolled user's record) gives them. */
export interface UseLimits {
  /** User id. */
  id: number;
  /** Most uses ever. */
  max_uses?: number;
  /** Most uses per UTC day. */
  max_uses_per_day?: number;
}

/** A user's counts. */
export interface UseCounts {
  /** Uses ever (since the last reset). */
  total: number;
  /** Uses today (UTC). */
  today: number;
}

/** A reservation: `commit` when the action ran, `release` when it did not. */
export interface UseReservation {
  /** The use stands (counts a user without limits). */
  commit(): Promise<void>;
  /** The use is given back. */
  release(): Promise<void>;
}

/** Why a reservation was refused. */
export type UseRefusal = "max_uses_reached" | "max_uses_per_day_reached";

function dayNamespace(now: number): string {
  return USES_DAY_NS + new Date(now).toISOString().slice(0, 10);
}

/** Counts uses in a state store. */
export class UseLedger {
  readonly #store: StateStore;
  readonly #clock: () => number;

  /** A ledger over `store`. */
  constructor(store: StateStore, clock: () => number = Date.now) {
    this.#store = store;
    this.#clock = clock;
  }

  /**
   * Takes a use for `user` now: a reservation, or why it is refused (nothing is kept
   * then). Throws when the store fails (the caller refuses the request).
   */
  async reserve(user: UseLimits): Promise<UseReservation | UseRefusal> {
    const now = this.#clock();
    const key = String(user.id);
    const dayNs = dayNamespace(now);
    const dayEnd = (Math.floor(now / DAY_MS) + 2) * DAY_MS;
    const store = this.#store;
    const limited = user.max_uses !== undefined || user.max_uses_per_day !== undefined;
    if (!limited) {
      // Counted once it ran; nothing is taken before.
      return {
        // Both counters at once: the store commits overlapping increments together.
        commit: async () => {
          await Promise.all([
            store.increment(USES_NS, key, 1),
            store.increment(dayNs, key, 1, dayEnd),
          ]);
        },
        release: () => Promise.resolve(),
      };
    }
    const [total, today] = await Promise.all([
      store.increment(USES_NS, key, 1),
      store.increment(dayNs, key, 1, dayEnd),
    ]);
    const giveBack = async () => {
      await Promise.all([
        store.increment(USES_NS, key, -1),
        store.increment(dayNs, key, -1, dayEnd),
      ]);
    };
    if (user.max_uses !== undefined && total > user.max_uses) {
      await giveBack();
      return "max_uses_reached";
    }
    if (user.max_uses_per_day !== undefined && today > user.max_uses_per_day) {
      await giveBack();
      return "max_uses_per_day_reached";
    }
    return { commit: () => Promise.resolve(), release: giveBack };
  }

  /** The counts of user `id`. */
  async counts(id: number): Promise<UseCounts> {
    const key = String(id);
    const now = this.#clock();
    const total = await this.#store.increment(USES_NS, key, 0);
    const today = await this.#store.increment(
      dayNamespace(now),
      key,
      0,
      (Math.floor(now / DAY_MS) + 2) * DAY_MS,
    );
    return { total: Math.max(0, total), today: Math.max(0, today) };
  }

  /** Sets user `id`'s counts (ever and today) back to 0. */
  async reset(id: number): Promise<void> {
    const key = String(id);
    await this.#store.resetCounter(USES_NS, key);
    await this.#store.resetCounter(dayNamespace(this.#clock()), key);
  }
}

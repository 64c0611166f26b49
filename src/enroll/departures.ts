/**
 * Enrolled users that went away (expired, revoked, or dropped by another node): each sync of
 * the registry is compared with the last one, and the ids no longer there are handed to the
 * daemon, which cuts their live firewall grants and fires their sessions' destructors at
 * once instead of letting them run out their duration.
 * @module
 */

/** One user that went away. */
export interface Departed {
  /** User id. */
  id: number;
  /** Its name (for the log). */
  name: string;
}

/** Remembers the enrolled users of the last look; says who left since. */
export class Departures {
  #known = new Map<number, string>();

  /** The users of `now` that were not there before are remembered; returns those that left. */
  update(now: Iterable<{ id: number; name: string }>): Departed[] {
    const next = new Map<number, string>();
    for (const u of now) next.set(u.id, u.name);
    const gone: Departed[] = [];
    for (const [id, name] of this.#known) if (!next.has(id)) gone.push({ id, name });
    this.#known = next;
    return gone;
  }
}

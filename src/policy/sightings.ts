/**
 * Repeat sightings: has this exact source (address and port) sent a datagram that went
 * unanswered a moment ago? Under a flood from random spoofed sources the daemon can only
 * afford cookie replies for a few of the datagrams (see `src/daemon/pipeline.ts`), and on
 * its first datagram a real client is indistinguishable from the flood. Its retry is not:
 * it comes from the same address and port within the client's timeout, while a spoofer
 * drawing random sources almost never repeats one. The daemon answers such a retry from a
 * budget of its own, so a real client gets its cookie on its second attempt however large
 * the random flood is. An attacker who sends every spoofed source twice spends that second
 * budget (it stays bounded) and halves his own rate of distinct sources.
 *
 * A fixed table of `slots` entries (8 bytes each), indexed by a keyed hash
 * ({@linkcode hashSource}); a new sighting overwrites the slot, so a flood can only make
 * the table forget, never grow.
 *
 * @example
 * ```ts
 * const seen = new RepeatSightings(1 << 18, 2000);
 * seen.repeated("192.0.2.7", 40000, 1_000); // false: first sighting, remembered
 * seen.repeated("192.0.2.7", 40000, 1_250); // true: the same source again within 2 s
 * ```
 * @module
 */
import { hashSource, newHashSeed } from "./source_hash.ts";
import { RecentTable } from "./recent_table.ts";

/** Remembers unanswered sources for `windowMs`, in `slots` hashed slots. */
export class RepeatSightings {
  readonly #table: RecentTable;
  readonly #seedSlot = newHashSeed();
  readonly #seedTag = newHashSeed();

  /**
   * Creates the table (allocated at the first sighting: a daemon never under load never
   * pays for it); `slots` is rounded up to a power of two (at most 2^22).
   */
  constructor(slots: number, windowMs: number) {
    this.#table = new RecentTable(slots, windowMs);
  }

  /**
   * True when `host`:`port` was seen (and not yet matched) within the window before `now`;
   * the match consumes the sighting. Otherwise records this sighting and returns false.
   */
  repeated(host: string, port: number, now: number): boolean {
    const i = hashSource(host, port, this.#seedSlot) & this.#table.mask;
    const tag = (hashSource(host, port, this.#seedTag) | 1) >>> 0;
    return this.#table.check(i, tag, now, true);
  }
}

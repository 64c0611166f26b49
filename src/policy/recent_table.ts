/**
 * The table under `RepeatSightings` and `RecentCopies`: `slots` entries of
 * a 32-bit tag and a time, allocated at first use. A new entry overwrites its slot, so network
 * input can only make the table forget, never grow.
 *
 * @example
 * ```ts
 * const t = new RecentTable(1 << 16, 2000);
 * t.check(5 & t.mask, 0xabc, 1_000, false); // false: stored
 * t.check(5 & t.mask, 0xabc, 1_500, false); // true: the same tag within 2 s
 * ```
 * @module
 */
/** Fixed slots of (tag, time), with a window in ms. */
export class RecentTable {
  /** Slot index mask (slots − 1; slots are a power of two, at most 2^22). */
  readonly mask: number;
  readonly #windowMs: number;
  #tags: Uint32Array | undefined;
  #seenAt: Float64Array | undefined;

  /** Creates the table; `slots` rounds up to a power of two. */
  constructor(slots: number, windowMs: number) {
    let size = 1;
    while (size < slots && size < 1 << 22) size <<= 1;
    this.mask = size - 1;
    this.#windowMs = windowMs;
  }

  /**
   * True when slot `i` holds `tag` (never 0) stored within the window before `now`; a match
   * is cleared when `consume`. Otherwise stores `tag` at `now` in slot `i` and returns false.
   */
  check(i: number, tag: number, now: number, consume: boolean): boolean {
    this.#tags ??= new Uint32Array(this.mask + 1);
    this.#seenAt ??= new Float64Array(this.mask + 1);
    const age = now - this.#seenAt[i];
    if (this.#tags[i] === tag && age >= 0 && age <= this.#windowMs) {
      if (consume) this.#tags[i] = 0;
      return true;
    }
    this.#tags[i] = tag;
    this.#seenAt[i] = now;
    return false;
  }
}

/**
 * Recent copies: was this exact datagram (the same mac1, a keyed hash of all its bytes) seen
 * a moment ago? A client on first contact sends its request twice (`src/client/send.ts`):
 * under a flood the copy is the retry that earns a cookie reply at once
 * (`RepeatSightings`); otherwise the copy must cost nothing, so it is dropped here, before
 * any public-key work. Copies an attacker resends within the window cost nothing either;
 * later ones are opened and refused by the replay guard as before.
 *
 * A fixed table of `slots` entries (8 bytes each) indexed by the mac1's own bytes (they look
 * random to anyone without the datagram) mixed with a random seed; a newer datagram
 * overwrites the slot, so a flood can only make the table forget (the copy is then opened
 * and refused as a replay), never grow. A false match needs slot and 32-bit tag to agree.
 *
 * @example
 * ```ts
 * const copies = new RecentCopies(1 << 16, 2000);
 * copies.seen(mac1, 1_000); // false: remembered
 * copies.seen(mac1, 1_001); // true: the same datagram again
 * ```
 * @module
 */
import { newHashSeed } from "./source_hash.ts";
import { RecentTable } from "./recent_table.ts";

/** The length of the key read from each datagram (its mac1). */
const KEY_LEN = 16;

/** Remembers datagrams (by their mac1) for `windowMs`, in `slots` slots. */
export class RecentCopies {
  readonly #table: RecentTable;
  readonly #seedSlot = newHashSeed();
  readonly #seedTag = newHashSeed();

  /** Creates the table (allocated at first use); `slots` rounds up to a power of two. */
  constructor(slots: number, windowMs: number) {
    this.#table = new RecentTable(slots, windowMs);
  }

  /**
   * True when a datagram with this 16-byte `mac1` was seen within the window before `now`;
   * otherwise remembers it and returns false. A key of another length is never a copy.
   */
  seen(mac1: Uint8Array, now: number): boolean {
    if (mac1.length !== KEY_LEN) return false;
    const w0 = (mac1[0] | mac1[1] << 8 | mac1[2] << 16 | mac1[3] << 24) ^ this.#seedSlot;
    const w1 = mac1[4] | mac1[5] << 8 | mac1[6] << 16 | mac1[7] << 24;
    const i = (w0 ^ Math.imul(w1, 0x9e3779b1)) & this.#table.mask;
    const w2 = mac1[8] | mac1[9] << 8 | mac1[10] << 16 | mac1[11] << 24;
    const w3 = mac1[12] | mac1[13] << 8 | mac1[14] << 16 | mac1[15] << 24;
    const tag = ((w2 ^ Math.imul(w3, 0x85ebca6b) ^ this.#seedTag) | 1) >>> 0;
    return this.#table.check(i, tag, now, false);
  }
}

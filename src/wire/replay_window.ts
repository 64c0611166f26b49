/**
 * A sliding replay window over 64-bit message counters, after RFC 6479: a ring of 32-bit
 * words, the highest counter seen, and one bit per counter within the window. Checking is
 * O(1); moving the window clears at most the whole ring. Written for siglatch sessions.
 * @module
 */

/** Words in the ring (a power of two). */
const WORDS = 64;
/** Bits per word. */
const BITS = 32;
/** Counters older than the newest by this much or more are refused. */
export const REPLAY_WINDOW = (WORDS - 1) * BITS;

/**
 * The receive side of a session: `check` before the (costly) AEAD open, `accept` only after
 * it verified, so a forged datagram never moves the window.
 */
export class ReplayWindow {
  readonly #ring = new Uint32Array(WORDS);
  /** Highest accepted counter, -1 before the first. */
  #top = -1;

  /** The highest counter accepted so far (-1: none). */
  get top(): number {
    return this.#top;
  }

  /** True when `counter` is new and within the window (nothing changes). */
  check(counter: number): boolean {
    if (!Number.isSafeInteger(counter) || counter < 0) return false;
    if (counter > this.#top) return true;
    if (counter + REPLAY_WINDOW <= this.#top) return false;
    const index = Math.floor(counter / BITS);
    const bit = 1 << (counter % BITS);
    return (this.#ring[index & (WORDS - 1)] & bit) === 0;
  }

  /** Records `counter` as seen; false (and nothing changes) when `check` would refuse it. */
  accept(counter: number): boolean {
    if (!this.check(counter)) return false;
    const index = Math.floor(counter / BITS);
    if (counter > this.#top) {
      const current = Math.floor(this.#top / BITS);
      const steps = Math.min(index - current, WORDS);
      for (let i = 1; i <= steps; i++) this.#ring[(current + i) & (WORDS - 1)] = 0;
      this.#top = counter;
    }
    this.#ring[index & (WORDS - 1)] |= 1 << (counter % BITS);
    return true;
  }
}

/**
 * The load signal: is the daemon too busy to spend public-key work on datagrams that did
 * not prove their source? True while the source gate is in pressure mode (failures across
 * all sources over `pressure_fail_rate`) or while the open queue is deep (the worker pool:
 * opens arrive faster than the workers finish them).
 *
 * The event-loop lag is sampled and shown in `status`, but it does not switch the signal:
 * measured under the test suite's parallel load, lags of 100–300 ms came from other
 * processes on the same cores, not from datagrams, and turned every unproven request into
 * a cookie round trip. The queue depth measures the same saturation without that noise.
 * @module
 */

/** Options of {@linkcode LoadSignal}. */
export interface LoadSignalOptions {
  /** The source gate's pressure flag. */
  pressure: () => boolean;
  /** Datagrams waiting for an open (0 without a pool). */
  queueDepth?: () => number;
  /** Queue depth at which the daemon counts as loaded. */
  maxDepth?: number;
  /** How often the lag is sampled (ms). */
  periodMs?: number;
  /** How long the signal stays on after its cause was last seen (ms). */
  holdMs?: number;
  /** Unproven datagrams per second answered with a cookie that keep the signal on. */
  gatedPerSecond?: number;
}

/** Says whether to ask unproven sources for a cookie instead of opening their datagrams. */
export class LoadSignal {
  readonly #o: Required<LoadSignalOptions>;
  #lastLagMs = 0;
  #until = 0;
  #windowStart = 0;
  #gatedInWindow = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #expected = 0;

  /** Creates the signal; call {@linkcode LoadSignal.start} to sample the lag. */
  constructor(opts: LoadSignalOptions) {
    this.#o = {
      queueDepth: () => 0,
      maxDepth: 256,
      periodMs: 100,
      holdMs: 2000,
      gatedPerSecond: 500,
      ...opts,
    };
  }

  /** Starts sampling the event-loop lag (for `status`). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#expected = performance.now() + this.#o.periodMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#lastLagMs = Math.max(0, now - this.#expected);
      this.#expected = now + this.#o.periodMs;
    }, this.#o.periodMs);
    Deno.unrefTimer(this.#timer);
  }

  /** Stops sampling. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * True while loaded, and for `holdMs` after: measured under a spoofed flood, a signal
   * that followed the queue depth datagram by datagram flapped, and a third of the flood
   * was still opened between two readings.
   */
  get loaded(): boolean {
    const now = performance.now();
    if (this.#o.pressure() || this.#o.queueDepth() >= this.#o.maxDepth) {
      this.#until = now + this.#o.holdMs;
    }
    return now < this.#until;
  }

  /**
   * Notes one unproven datagram answered with a cookie instead of being opened. A flood
   * that is no longer opened no longer fails, so the gate's pressure would fade and the
   * flood reach the workers again (measured: the signal flapped, a third of a spoofed flood
   * was opened); while such datagrams keep coming faster than `gatedPerSecond`, the signal
   * stays on.
   */
  noteGated(): void {
    const now = performance.now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#gatedInWindow = 0;
    }
    if (++this.#gatedInWindow > this.#o.gatedPerSecond) this.#until = now + this.#o.holdMs;
  }

  /** The last event-loop lag sampled (ms), for `status`. */
  get lagMs(): number {
    return this.#lastLagMs;
  }
}

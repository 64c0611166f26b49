/**
 * The load signal: is the daemon too busy to spend public-key work on datagrams that did
 * not prove their source? True while the source gate is in pressure mode (failures across
 * all sources over `pressure_fail_rate`), while the event loop lags (a timer that should
 * fire every `periodMs` fires late: the receive loop is saturated), or while the open
 * queue is deep (the worker pool, when there is one).
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
  /** Lag (ms) past which the daemon counts as loaded. */
  maxLagMs?: number;
  /** How often the lag is sampled (ms). */
  periodMs?: number;
  /** How long the lag keeps the signal on after it was last seen (ms). */
  holdMs?: number;
}

/** Says whether to ask unproven sources for a cookie instead of opening their datagrams. */
export class LoadSignal {
  readonly #o: Required<LoadSignalOptions>;
  #lagUntil = 0;
  #lastLagMs = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #expected = 0;

  /** Creates the signal; call {@linkcode LoadSignal.start} to sample the lag. */
  constructor(opts: LoadSignalOptions) {
    this.#o = {
      queueDepth: () => 0,
      maxDepth: 256,
      maxLagMs: 50,
      periodMs: 25,
      holdMs: 2000,
      ...opts,
    };
  }

  /** Starts sampling the event-loop lag. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#expected = performance.now() + this.#o.periodMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#lastLagMs = Math.max(0, now - this.#expected);
      this.#expected = now + this.#o.periodMs;
      if (this.#lastLagMs > this.#o.maxLagMs) this.#lagUntil = now + this.#o.holdMs;
    }, this.#o.periodMs);
    Deno.unrefTimer(this.#timer);
  }

  /** Stops sampling. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** True while loaded. */
  get loaded(): boolean {
    return this.#o.pressure() || this.#o.queueDepth() >= this.#o.maxDepth ||
      performance.now() < this.#lagUntil;
  }

  /** The last event-loop lag sampled (ms), for `status`. */
  get lagMs(): number {
    return this.#lastLagMs;
  }
}

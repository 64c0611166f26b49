/**
 * Keeps one owner's objects in the kernel: a cheap periodic probe (one terse `nft list
 * table`: no set elements) and, when something is missing (after `nft flush ruleset`,
 * which is what restarting Debian's `nftables` service does), one repair that rebuilds the
 * owner's objects from the state it holds in memory. The owners also call
 * {@linkcode Reconciler.check} when an nft batch failed, then retry that batch once.
 *
 * The reconciler knows nothing about what it guards: the owner gives a `probe` (what is
 * missing) and a `repair`; it keeps the timer, runs one check at a time, and remembers the
 * last result for the daemon's `status`.
 *
 * @example
 * ```ts
 * const r = new Reconciler({ probe: async () => [], repair: async () => {}, intervalMs: 3000 });
 * r.start();
 * r.status(); // { last_check: null, last_repair: null, repairs: 0, repaired: [] }
 * r.stop();
 * ```
 * @module
 */

/** The last result of a reconciler, as `status` shows it. */
export interface ReconcileStatus {
  /** When the last check finished (ISO 8601), null before the first. */
  last_check: string | null;
  /** When the last repair was made (ISO 8601), null when none was needed. */
  last_repair: string | null;
  /** Repairs made since start. */
  repairs: number;
  /** What the last repair found missing (`table`, `set:banned_v4`, `rules:grants`, …). */
  repaired: string[];
  /** Why the last check or repair failed; absent when it succeeded. */
  error?: string;
}

/** Options for {@linkcode Reconciler}. */
export interface ReconcilerOptions {
  /** What is missing now (empty: all in place); throws when it cannot tell. */
  probe: () => Promise<string[]>;
  /** Puts everything back from the owner's state; throws when nft refused. */
  repair: (missing: string[]) => Promise<void>;
  /** Period of the probe (ms); 0 = only when {@linkcode Reconciler.check} is called. */
  intervalMs: number;
  /** Clock (epoch ms). */
  clock?: () => number;
  /** Called after a repair (for the log). */
  onRepair?: (missing: string[]) => void;
  /** Called when a check or repair fails, once per distinct message (for the log). */
  onError?: (message: string) => void;
}

/** Periodic probe + repair with a remembered last result; see the module doc. */
export class Reconciler {
  readonly #opts: ReconcilerOptions;
  readonly #clock: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<boolean> | null = null;
  #lastCheck: number | null = null;
  #lastRepair: number | null = null;
  #repairs = 0;
  #repaired: string[] = [];
  #error: string | undefined;

  /** Creates a stopped reconciler. */
  constructor(opts: ReconcilerOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
  }

  /** Starts the periodic probe (no-op when `intervalMs` is 0 or already started). */
  start(): void {
    if (this.#timer !== undefined || this.#opts.intervalMs <= 0) return;
    const timer = setInterval(() => void this.check(), this.#opts.intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Stops the periodic probe and waits for a check in progress. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /**
   * Probes now and repairs what is missing; true when a repair was made and succeeded.
   * Concurrent calls share one run. Never throws (failures go to `status().error`).
   */
  check(): Promise<boolean> {
    this.#running ??= this.#run().finally(() => this.#running = null);
    return this.#running;
  }

  async #run(): Promise<boolean> {
    let repaired = false;
    let error: string | undefined;
    try {
      const missing = await this.#opts.probe();
      if (missing.length > 0) {
        await this.#opts.repair(missing);
        this.#lastRepair = this.#clock();
        this.#repairs++;
        this.#repaired = missing;
        repaired = true;
        this.#opts.onRepair?.(missing);
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    this.#lastCheck = this.#clock();
    if (error !== undefined && error !== this.#error) this.#opts.onError?.(error);
    this.#error = error;
    return repaired;
  }

  /** The last result; a fresh plain object. */
  status(): ReconcileStatus {
    const iso = (t: number | null) => t === null ? null : new Date(t).toISOString();
    const out: ReconcileStatus = {
      last_check: iso(this.#lastCheck),
      last_repair: iso(this.#lastRepair),
      repairs: this.#repairs,
      repaired: [...this.#repaired],
    };
    if (this.#error !== undefined) out.error = this.#error;
    return out;
  }
}

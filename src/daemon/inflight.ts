/**
 * Work in flight (accepted requests, dead-drop runs), so a stop can wait for it.
 * @module
 */

/** The set of running jobs. */
export class InFlight {
  readonly #jobs = new Set<Promise<unknown>>();

  /** Tracks `job` until it settles. */
  track(job: Promise<unknown>): void {
    this.#jobs.add(job);
    job.finally(() => this.#jobs.delete(job)).catch(() => {});
  }

  /** Jobs still running. */
  get size(): number {
    return this.#jobs.size;
  }

  /** Waits until every job settled or `ms` passed; true when none is left. */
  async settle(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.#jobs.size > 0 && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...this.#jobs]),
        new Promise((r) => timer = setTimeout(r, Math.max(1, deadline - Date.now()))),
      ]);
      clearTimeout(timer);
    }
    return this.#jobs.size === 0;
  }
}

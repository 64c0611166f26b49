/**
 * Bounded concurrency: at most `max` jobs run at once and at most `queue` wait; a job
 * offered to a full queue is refused at once (never unbounded memory).
 * @module
 */

/** Thrown (as a value) when a job is refused because the queue is full. */
export class QueueFullError extends Error {
  /** Creates the error. */
  constructor() {
    super("busy: action queue is full");
    this.name = "QueueFullError";
  }
}

/** A concurrency limiter with a bounded wait queue. */
export class Limiter {
  #running = 0;
  readonly #waiting: Array<() => void> = [];
  /** Most jobs running at once. */
  max: number;
  /** Most jobs waiting. */
  queue: number;

  /** Creates a limiter. */
  constructor(max: number, queue: number) {
    this.max = max;
    this.queue = queue;
  }

  /** Jobs running now. */
  get running(): number {
    return this.#running;
  }

  /** Jobs waiting now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `job` when a slot is free; rejects with QueueFullError when the queue is full. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.#running >= this.max) {
      if (this.#waiting.length >= this.queue) throw new QueueFullError();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await job();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }

  /** Resolves when nothing runs or waits, or after `timeoutMs`; true when idle. */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#running > 0 || this.#waiting.length > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }
}

/**
 * Makes accepted nonces durable in batches: every claim made in the same event-loop turn
 * goes to the state store in one commit, and each caller waits for its commit before its
 * action runs. Claims that arrive while a commit is in flight go in the next one.
 *
 * A claim that a request waits for (`urgent`: its action runs after the commit) starts the
 * commit in the turn's check phase (`setImmediate`: after the turn's other I/O callbacks,
 * so the claims of datagrams read together still share a commit); other claims wait for a
 * zero timer, which in Deno fires after ~2 ms. That timer was the largest part of an exec
 * request's wait for its nonce on a quiet daemon (the commit takes ~0.5 ms).
 * @module
 */
import { setImmediate } from "node:timers";
import type { NonceClaim, StateStore } from "../state/store.ts";

interface Pending {
  claim: NonceClaim;
  resolve: (fresh: boolean) => void;
  reject: (err: unknown) => void;
}

/** Most claims in one batch (the rest go in the next). */
const MAX_BATCH = 2000;

/** Batches nonce claims to a {@linkcode StateStore}. */
export class NonceBatcher {
  readonly #store: StateStore;
  #pending: Pending[] = [];
  #scheduled = false;
  #kicked = false;
  #flushing: Promise<void> = Promise.resolve();
  readonly #later: (run: () => void) => void;

  /** Creates a batcher over `store`; `later` schedules the batch of non-urgent claims. */
  constructor(store: StateStore, later: (run: () => void) => void = (run) => setTimeout(run, 0)) {
    this.#store = store;
    this.#later = later;
  }

  /**
   * Claims one nonce; resolves true when it was fresh (persisted), false when seen before.
   * `urgent`: the caller waits for it (see the module doc).
   */
  claim(nonce: Uint8Array, expiresAt: number, urgent = false): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ claim: { nonce, expiresAt }, resolve, reject });
      if (urgent && !this.#kicked) {
        this.#kicked = true;
        setImmediate(() => {
          this.#kicked = false;
          this.#start();
        });
      } else if (!this.#scheduled) {
        this.#scheduled = true;
        this.#later(() => this.#start());
      }
    });
  }

  /** Commits what is pending after the commit in flight (a run finding nothing is a no-op). */
  #start(): void {
    this.#flushing = this.#flushing.then(() => this.#run());
  }

  async #run(): Promise<void> {
    this.#scheduled = false;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, MAX_BATCH);
      try {
        const fresh = await this.#store.claimNonces(batch.map((p) => p.claim));
        batch.forEach((p, i) => p.resolve(fresh[i]));
      } catch (err) {
        batch.forEach((p) => p.reject(err));
      }
    }
  }

  /** Waits until every claim made so far is committed. */
  async flush(): Promise<void> {
    await this.#flushing;
    if (this.#pending.length > 0) await this.#run();
  }
}

/**
 * Makes accepted nonces durable in batches: every claim made in the same event-loop turn
 * goes to the state store in one commit, and each caller waits for its commit before its
 * action runs.
 * @module
 */
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
  #flushing: Promise<void> = Promise.resolve();

  /** Creates a batcher over `store`. */
  constructor(store: StateStore) {
    this.#store = store;
  }

  /** Claims one nonce; resolves true when it was fresh (persisted), false when seen before. */
  claim(nonce: Uint8Array, expiresAt: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ claim: { nonce, expiresAt }, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setTimeout(() => this.#flushing = this.#flushing.then(() => this.#run()), 0);
      }
    });
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

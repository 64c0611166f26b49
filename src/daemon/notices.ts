/**
 * Notices: the system messages every reply carries: the config's `messages` plus the
 * operator's broadcasts (bounded; admin validates text and count before adding).
 * @module
 */
import type { SystemMessage } from "../wire/reply_body.ts";

/** Config messages and runtime broadcasts, without the expired ones. */
export class Notices {
  #broadcasts: SystemMessage[] = [];
  readonly #configured: () => readonly SystemMessage[];
  readonly #clock: () => number;

  /** Creates the notices over the config's messages (read at each call: reload swaps them). */
  constructor(configured: () => readonly SystemMessage[], clock: () => number) {
    this.#configured = configured;
    this.#clock = clock;
  }

  /** Unexpired messages: config first, then broadcasts. */
  list(): SystemMessage[] {
    const now = this.#clock();
    return [...this.#configured(), ...this.#broadcasts].filter((m) =>
      m.expires === undefined || m.expires > now
    );
  }

  /** Unexpired broadcasts (expired ones are forgotten). */
  broadcasts(): SystemMessage[] {
    const now = this.#clock();
    this.#broadcasts = this.#broadcasts.filter((m) => m.expires === undefined || m.expires > now);
    return [...this.#broadcasts];
  }

  /** Adds a broadcast. */
  broadcast(message: SystemMessage): void {
    this.#broadcasts = [...this.#broadcasts, message];
  }

  /** Removes every broadcast; returns how many there were. */
  clearBroadcasts(): number {
    const n = this.#broadcasts.length;
    this.#broadcasts = [];
    return n;
  }
}

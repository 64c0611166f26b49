/**
 * The daemon's server key rotations: reads every server's record from the state store
 * (start, and each second: another node may have rotated), rotates on `keys.rotate_every`
 * and on `admin rotate server`, and says when the runtime must be rebuilt (a new generation,
 * or a grace period that ended).
 * @module
 */
import type { StateStore } from "../state/store.ts";
import { loadRotation, rotateServer, ROTATION_NS, type RotationRecord } from "./state.ts";

/** What the rotator reads from the running config. */
export interface RotationSettings {
  /** Server names. */
  servers: string[];
  /** `keys.rotate_every` (ms), if set. */
  rotateEvery?: number;
  /** `keys.rotation_grace` (ms). */
  graceMs: number;
}

/** Rotation records of every server, kept in step with the store. */
export class ServerRotation {
  readonly #store: StateStore;
  readonly #settings: () => RotationSettings;
  readonly #clock: () => number;
  #records = new Map<string, RotationRecord>();
  /** What the runtime was last built with: `gen:previous-still-accepted` per server. */
  #applied = "";

  /** Creates the rotator; {@linkcode sync} loads it. */
  constructor(store: StateStore, settings: () => RotationSettings, clock: () => number) {
    this.#store = store;
    this.#settings = settings;
    this.#clock = clock;
  }

  /** Current records by server name. */
  get records(): ReadonlyMap<string, RotationRecord> {
    return this.#records;
  }

  #shape(): string {
    const now = this.#clock();
    return [...this.#records].map(([n, r]) =>
      `${n}:${r.gen}:${r.prev !== undefined && r.prev.until > now}`
    ).sort().join(",");
  }

  /**
   * Re-reads the records, rotates what `rotate_every` says is due (one node wins each
   * rotation); true when the runtime must be rebuilt.
   */
  async sync(): Promise<boolean> {
    const s = this.#settings();
    const now = this.#clock();
    const records = new Map<string, RotationRecord>();
    for (const name of s.servers) {
      let rec = await loadRotation(this.#store, name);
      if (s.rotateEvery !== undefined) {
        if (rec === undefined) {
          rec = { gen: 0, salt: "", since: now };
          await this.#store.set(ROTATION_NS, name, rec);
        } else if (rec.since + s.rotateEvery <= now) {
          rec = await rotateServer(this.#store, name, rec, s.graceMs, now) ??
            await loadRotation(this.#store, name);
        }
      }
      if (rec) records.set(name, rec);
    }
    this.#records = records;
    const shape = this.#shape();
    const changed = shape !== this.#applied;
    this.#applied = shape;
    return changed;
  }

  /** Rotates `server` now (admin); returns the new record. */
  async rotate(server: string): Promise<RotationRecord> {
    const s = this.#settings();
    if (!s.servers.includes(server)) throw new Error(`rotate: no server named "${server}"`);
    const from = await loadRotation(this.#store, server);
    const next = await rotateServer(this.#store, server, from, s.graceMs, this.#clock());
    if (!next) throw new Error(`rotate: another node rotated ${server} at the same time`);
    await this.sync();
    return next;
  }
}

/**
 * User key rotation for HMAC users: `admin rotate user NAME` makes a new 32-byte key and
 * keeps it in the state store (so every node and a restart know it). The user's next
 * request, made with the old key, is answered as usual and its reply, sealed to that
 * request, carries the new key; the client rewrites its key file. Both keys are accepted
 * until the user's first request with the new key (the confirmation) or the grace period
 * ends. From then on the key in the store is the user's key; the config's `hmac_key_file`
 * is not rewritten (the network part cannot write it), so the store's key wins over it.
 *
 * An Ed25519 user is not rotated this way: its private key is made on its own machine.
 * @module
 */
import { randomFillSync } from "node:crypto";
import type { StateStore } from "../state/store.ts";
import type { Runtime, UserRuntime } from "../daemon/runtime.ts";

/** Namespace of user key records (key: user id). */
export const USER_KEY_NS = "user_key";
/** Most rotated users read back. */
const MAX_RECORDS = 4096;

/** A user's rotated key as stored. */
export interface UserKeyRecord {
  /** User id. */
  id: number;
  /** The new HMAC key, base64. */
  key: string;
  /** The key before, base64, until the client confirms or `until`. */
  prev?: string;
  /** End of the grace period of `prev` (epoch ms). */
  until: number;
}

function key32(v: unknown): boolean {
  if (typeof v !== "string") return false;
  try {
    return Uint8Array.fromBase64(v).length === 32;
  } catch {
    return false;
  }
}

/** Checks a record read from the store. */
export function checkUserKey(v: unknown): UserKeyRecord | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const ok = Number.isInteger(r.id) && key32(r.key) && (r.prev === undefined || key32(r.prev)) &&
    Number.isFinite(r.until);
  return ok ? r as unknown as UserKeyRecord : undefined;
}

/** Rotated user keys, kept in step with the store. */
export class UserKeyRotation {
  readonly #store: StateStore;
  readonly #clock: () => number;
  #records = new Map<number, UserKeyRecord>();
  #shape = "";

  /** Creates it; {@linkcode sync} loads it. */
  constructor(store: StateStore, clock: () => number) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Re-reads the records; true when the runtime must be rebuilt. */
  async sync(): Promise<boolean> {
    const now = this.#clock();
    const records = new Map<number, UserKeyRecord>();
    for (const r of await this.#store.list<unknown>(USER_KEY_NS, now)) {
      const rec = checkUserKey(r.value);
      if (rec && records.size < MAX_RECORDS) records.set(rec.id, rec);
    }
    this.#records = records;
    const shape = [...records.values()].map((r) =>
      `${r.id}:${r.key}:${r.prev !== undefined && r.until > now}`
    ).sort().join(",");
    const changed = shape !== this.#shape;
    this.#shape = shape;
    return changed;
  }

  /** Rotates `user`'s HMAC key now; the key in effect stays accepted for `graceMs`. */
  async rotate(user: UserRuntime, graceMs: number): Promise<UserKeyRecord> {
    const current = user.verifier.hmacKey;
    if (!current) {
      throw new Error(
        `rotate user ${user.config.name}: only HMAC users (an Ed25519 user makes its own key)`,
      );
    }
    const rec: UserKeyRecord = {
      id: user.config.id,
      key: randomFillSync(new Uint8Array(32)).toBase64(),
      prev: current.toBase64(),
      until: this.#clock() + graceMs,
    };
    await this.#store.set(USER_KEY_NS, String(rec.id), rec);
    await this.sync();
    return rec;
  }

  /** The user used its new key: the previous one is no longer accepted. */
  async confirm(id: number): Promise<boolean> {
    const rec = checkUserKey((await this.#store.get<unknown>(USER_KEY_NS, String(id)))?.value);
    if (!rec || rec.prev === undefined) return false;
    await this.#store.set(USER_KEY_NS, String(id), { id, key: rec.key, until: rec.until });
    return await this.sync();
  }

  /** `runtime` with every rotated user's keys (config and enrolled HMAC users). */
  apply(runtime: Runtime): Runtime {
    if (this.#records.size === 0) return runtime;
    const now = this.#clock();
    const users = new Map(runtime.users);
    for (const rec of this.#records.values()) {
      const u = users.get(rec.id);
      if (!u || !u.verifier.hmacKey) continue;
      const prev = rec.prev !== undefined && rec.until > now
        ? Uint8Array.fromBase64(rec.prev)
        : undefined;
      users.set(rec.id, {
        ...u,
        verifier: {
          hmacKey: Uint8Array.fromBase64(rec.key),
          ...(prev ? { previousHmacKey: prev } : {}),
        },
        ...(prev ? { keyNotice: { hmac: rec.key } } : {}),
      });
    }
    return { ...runtime, users };
  }
}

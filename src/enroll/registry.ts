/**
 * Invites and enrolled users, kept in the state store (so a restart and every node of a
 * Redis cluster see the same ones), mirrored in memory for the per-datagram key lookup.
 *
 * An invite is made by the admin (`invite create`), used once by `siglatch enroll`: its
 * secret authenticates one enroll request carrying the new user's Ed25519 public key; the
 * user is created with the invite's name, actions, lifetime and use limit. With `approve`,
 * the first enroll request parks the key as "pending" until `admin approve ID`. Records
 * expire in the store by themselves; a sweep drops them from memory.
 *
 * Every record read back is validated (the store is input, not trusted data).
 * @module
 */
import { randomFillSync } from "node:crypto";
import type { StateStore } from "../state/store.ts";
import { constantTimeEqual } from "../crypto/ct.ts";
import type { UserVerifier } from "../wire/mod.ts";
import { type EnrollAnswer, ENROLLED_ID_MIN, INVITE_ID_MIN } from "./invite.ts";

/** Namespace of invites (key: invite id). */
export const INVITE_NS = "enroll_invite";
/** Namespace of enrolled users (key: user id). */
export const ENROLLED_NS = "enroll_user";
/** Namespace of the one-time claims of invites (atomic, cluster-wide). */
export const CLAIM_NS = "enroll_claim";
/** Most live invites (open, pending or used, until they expire). */
export const MAX_INVITES = 1024;
/** Most invites waiting for approval with a key parked. */
export const MAX_PENDING = 64;
/** Most enrolled users. */
export const MAX_ENROLLED = 4096;

/** An invite as stored. */
export interface InviteRecord {
  /** Invite id (≥ 2^31). */
  id: number;
  /** Name the user gets. */
  name: string;
  /** One-time secret, base64. */
  secret: string;
  /** Action names the user gets. */
  actions: string[];
  /** When the invite and the user it makes stop existing (epoch ms). */
  not_after: number;
  /** The user's max_uses. */
  max_uses?: number;
  /** Enrollment waits for `admin approve`. */
  approve: boolean;
  /** open → (pending → approved →) used. */
  state: "open" | "pending" | "approved" | "used";
  /** The enrolling client's Ed25519 public key, base64 (pending, approved, used). */
  key?: string;
  /** The user made from it (used). */
  user_id?: number;
}

/** An enrolled user as stored. */
export interface EnrolledRecord {
  /** User id (2^30 … 2^31−1). */
  id: number;
  /** Name. */
  name: string;
  /** Ed25519 public key, base64 (the server never holds the private key). */
  ed25519_public: string;
  /** Action names. */
  actions: string[];
  /** When the user stops existing (epoch ms). */
  not_after: number;
  /** Most requests that run, ever. */
  max_uses?: number;
  /** The invite it came from. */
  invite: number;
  /** When it enrolled (epoch ms). */
  enrolled: number;
}

/** What `invite create` asks for. */
export interface InviteRequest {
  /** User name. */
  name: string;
  /** Action names. */
  actions: string[];
  /** Lifetime of the invite and of the user (ms from now). */
  expiresMs: number;
  /** The user's max_uses. */
  uses?: number;
  /** Wait for `admin approve`. */
  approve?: boolean;
}

/** Why an enroll request is refused (the reply's reason). */
export type EnrollRefusal =
  | "invite_unknown"
  | "invite_used"
  | "invite_expired"
  | "pending_full"
  | "enrolled_full"
  | "state_error";

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isNames(v: unknown): v is string[] {
  return Array.isArray(v) && v.length <= 256 && v.every((x) => typeof x === "string");
}

function b64Key(v: unknown, len: number): boolean {
  if (typeof v !== "string") return false;
  try {
    return Uint8Array.fromBase64(v).length === len;
  } catch {
    return false;
  }
}

/** Checks an invite read from the store. */
export function checkInvite(v: unknown): InviteRecord | undefined {
  if (!isRecord(v)) return undefined;
  const ok = Number.isInteger(v.id) && (v.id as number) >= INVITE_ID_MIN &&
    (v.id as number) <= 0xffffffff && typeof v.name === "string" && NAME_RE.test(v.name) &&
    b64Key(v.secret, 32) && isNames(v.actions) && Number.isFinite(v.not_after) &&
    (v.max_uses === undefined || (Number.isInteger(v.max_uses) && (v.max_uses as number) > 0)) &&
    typeof v.approve === "boolean" &&
    ["open", "pending", "approved", "used"].includes(v.state as string) &&
    (v.key === undefined || b64Key(v.key, 32)) &&
    (v.user_id === undefined || Number.isInteger(v.user_id));
  return ok ? v as unknown as InviteRecord : undefined;
}

/** Checks an enrolled user read from the store. */
export function checkEnrolled(v: unknown): EnrolledRecord | undefined {
  if (!isRecord(v)) return undefined;
  const ok = Number.isInteger(v.id) && (v.id as number) >= ENROLLED_ID_MIN &&
    (v.id as number) < INVITE_ID_MIN && typeof v.name === "string" && NAME_RE.test(v.name) &&
    b64Key(v.ed25519_public, 32) && isNames(v.actions) && Number.isFinite(v.not_after) &&
    (v.max_uses === undefined || (Number.isInteger(v.max_uses) && (v.max_uses as number) > 0)) &&
    Number.isInteger(v.invite) && Number.isFinite(v.enrolled);
  return ok ? v as unknown as EnrolledRecord : undefined;
}

/** Options of {@linkcode Enrollment}. */
export interface EnrollmentOptions {
  /** Clock (epoch ms). */
  clock?: () => number;
  /** Names and ids already taken (the config's users). */
  taken: () => { names: Set<string>; ids: Set<number> };
  /** Action ids by name (the running config's). */
  actionIds: () => ReadonlyMap<string, number>;
  /** Called when the set of enrolled users or invites changed. */
  onChange?: () => void;
}

/** Invites and enrolled users of one daemon, backed by the state store. */
export class Enrollment {
  readonly #store: StateStore;
  readonly #o: EnrollmentOptions;
  readonly #clock: () => number;
  #invites = new Map<number, InviteRecord>();
  #users = new Map<number, EnrolledRecord>();
  /** Secrets decoded once per invite. */
  #secrets = new Map<number, Uint8Array>();
  #keys = new Map<number, Uint8Array>();

  /** Creates the registry over `store`; call {@linkcode sync} to load it. */
  constructor(store: StateStore, opts: EnrollmentOptions) {
    this.#store = store;
    this.#o = opts;
    this.#clock = opts.clock ?? Date.now;
  }

  /** Enrolled users now (unexpired). */
  users(): EnrolledRecord[] {
    const now = this.#clock();
    return [...this.#users.values()].filter((u) => u.not_after > now);
  }

  /** Live invites now (unexpired). */
  invites(): InviteRecord[] {
    const now = this.#clock();
    return [...this.#invites.values()].filter((i) => i.not_after > now);
  }

  /**
   * The key an enroll request of invite `id` is authenticated with, or an enrolled user's
   * Ed25519 key; `undefined` for anything else or anything expired.
   */
  verifier(id: number): UserVerifier | undefined {
    const now = this.#clock();
    if (id >= INVITE_ID_MIN) {
      const inv = this.#invites.get(id);
      if (!inv || inv.not_after <= now) return undefined;
      return { hmacKey: this.#secrets.get(id) };
    }
    const u = this.#users.get(id);
    if (!u || u.not_after <= now) return undefined;
    return { ed25519Public: this.#keys.get(id) };
  }

  /** The HMAC keys of live invites (for the open workers' key tables). */
  inviteKeys(): { id: number; hmacKey: Uint8Array }[] {
    return this.invites().map((i) => ({ id: i.id, hmacKey: this.#secrets.get(i.id)! }));
  }

  /** Reloads both tables from the store (start, and periodically for a cluster). */
  async sync(): Promise<void> {
    const now = this.#clock();
    const invites = new Map<number, InviteRecord>();
    for (const r of await this.#store.list<unknown>(INVITE_NS, now)) {
      const inv = checkInvite(r.value);
      if (inv && invites.size < MAX_INVITES) invites.set(inv.id, inv);
    }
    const users = new Map<number, EnrolledRecord>();
    for (const r of await this.#store.list<unknown>(ENROLLED_NS, now)) {
      const u = checkEnrolled(r.value);
      if (u && u.not_after > now && users.size < MAX_ENROLLED) users.set(u.id, u);
    }
    const changed = !sameUsers(this.#users, users) || !sameInvites(this.#invites, invites);
    this.#set(invites, users);
    if (changed) this.#o.onChange?.();
  }

  #set(invites: Map<number, InviteRecord>, users: Map<number, EnrolledRecord>): void {
    this.#invites = invites;
    this.#users = users;
    this.#secrets = new Map([...invites.values()].map((i) => [i.id, b64(i.secret)]));
    this.#keys = new Map([...users.values()].map((u) => [u.id, b64(u.ed25519_public)]));
  }

  /** Drops what expired from memory; true (and `onChange`) when something went. */
  sweep(): boolean {
    const now = this.#clock();
    const invites = new Map([...this.#invites].filter(([, i]) => i.not_after > now));
    const users = new Map([...this.#users].filter(([, u]) => u.not_after > now));
    if (invites.size === this.#invites.size && users.size === this.#users.size) return false;
    this.#set(invites, users);
    this.#o.onChange?.();
    return true;
  }

  /** Makes an invite; returns its id and secret. Throws an Error saying what is wrong. */
  async createInvite(req: InviteRequest): Promise<{ record: InviteRecord; secret: Uint8Array }> {
    const now = this.#clock();
    if (!NAME_RE.test(req.name)) throw new Error(`invite: bad name "${req.name}"`);
    if (!(req.expiresMs > 0)) throw new Error("invite: --expires must be positive");
    if (req.uses !== undefined && !(Number.isInteger(req.uses) && req.uses > 0)) {
      throw new Error("invite: --uses must be a positive integer");
    }
    await this.sync();
    const taken = this.#o.taken();
    const names = new Set([
      ...taken.names,
      ...this.users().map((u) => u.name),
      ...this.invites().filter((i) => i.state !== "used").map((i) => i.name),
    ]);
    if (names.has(req.name)) throw new Error(`invite: the name "${req.name}" is taken`);
    if (this.invites().length >= MAX_INVITES) throw new Error("invite: too many live invites");
    let id: number;
    do id = INVITE_ID_MIN + randomU31(); while (this.#invites.has(id) || taken.ids.has(id));
    const secret = randomFillSync(new Uint8Array(32));
    const record: InviteRecord = {
      id,
      name: req.name,
      secret: secret.toBase64(),
      actions: req.actions,
      not_after: now + req.expiresMs,
      ...(req.uses !== undefined ? { max_uses: req.uses } : {}),
      approve: req.approve === true,
      state: "open",
    };
    await this.#store.set(INVITE_NS, String(id), record, record.not_after);
    await this.sync();
    return { record, secret };
  }

  /**
   * Handles an authenticated enroll request of invite `id` carrying `key` (Ed25519 public).
   * Reads the invite from the store (another node may have moved it on).
   */
  async enroll(id: number, key: Uint8Array): Promise<EnrollAnswer | EnrollRefusal> {
    const now = this.#clock();
    const got = await this.#store.get<unknown>(INVITE_NS, String(id));
    const inv = checkInvite(got?.value);
    if (!inv) return "invite_unknown";
    if (inv.not_after <= now) return "invite_expired";
    const keyText = key.toBase64();
    const sameKey = inv.key !== undefined && constantTimeEqual(b64(inv.key), key);
    if (inv.state === "used") {
      // The same client asking again (its reply was lost) gets its profile again.
      const user = inv.user_id === undefined
        ? undefined
        : checkEnrolled((await this.#store.get<unknown>(ENROLLED_NS, String(inv.user_id)))?.value);
      return sameKey && user ? this.#answer(user) : "invite_used";
    }
    if (inv.approve && inv.state === "open") {
      if (this.invites().filter((i) => i.state === "pending").length >= MAX_PENDING) {
        return "pending_full";
      }
      await this.#store.set(
        INVITE_NS,
        String(id),
        { ...inv, state: "pending", key: keyText },
        inv.not_after,
      );
      await this.sync();
      return { state: "pending", invite: id };
    }
    if (inv.state === "pending") return sameKey ? { state: "pending", invite: id } : "invite_used";
    if (inv.state === "approved" && !sameKey) return "invite_used";
    // One enrollment per invite, cluster-wide: the first increment wins.
    const claim = await this.#store.increment(CLAIM_NS, String(id), 1, inv.not_after);
    if (claim !== 1) return "invite_used";
    if (this.users().length >= MAX_ENROLLED) return "enrolled_full";
    const taken = this.#o.taken().ids;
    let userId: number;
    do userId = ENROLLED_ID_MIN + (randomU31() & 0x3fffffff); while (
      this.#users.has(userId) || taken.has(userId) ||
      await this.#store.get(ENROLLED_NS, String(userId)) !== undefined
    );
    const user: EnrolledRecord = {
      id: userId,
      name: inv.name,
      ed25519_public: keyText,
      actions: inv.actions,
      not_after: inv.not_after,
      ...(inv.max_uses !== undefined ? { max_uses: inv.max_uses } : {}),
      invite: id,
      enrolled: now,
    };
    await this.#store.set(ENROLLED_NS, String(userId), user, user.not_after);
    await this.#store.set(
      INVITE_NS,
      String(id),
      { ...inv, state: "used", key: keyText, user_id: userId },
      inv.not_after,
    );
    await this.sync();
    return this.#answer(user);
  }

  #answer(user: EnrolledRecord): EnrollAnswer {
    const ids = this.#o.actionIds();
    const actions: Record<string, number> = {};
    for (const name of user.actions) {
      const id = ids.get(name);
      if (id !== undefined) actions[name] = id;
    }
    return {
      state: "enrolled",
      user_id: user.id,
      name: user.name,
      actions,
      not_after: user.not_after,
    };
  }

  /** Approves invite `id` (pending: a key is waiting). Throws when there is nothing to approve. */
  async approve(id: number): Promise<InviteRecord> {
    const inv = checkInvite((await this.#store.get<unknown>(INVITE_NS, String(id)))?.value);
    if (!inv || inv.not_after <= this.#clock()) throw new Error(`approve: no invite ${id}`);
    if (inv.state !== "pending") {
      throw new Error(`approve: invite ${id} is ${inv.state}, not pending (no enroll request yet)`);
    }
    const next: InviteRecord = { ...inv, state: "approved" };
    await this.#store.set(INVITE_NS, String(id), next, inv.not_after);
    await this.sync();
    return next;
  }

  /** The enrolled user named `name`. */
  find(name: string): EnrolledRecord | undefined {
    return this.users().find((u) => u.name === name);
  }

  /** Removes an enrolled user (and any live invite of that name); true when one existed. */
  async revoke(name: string): Promise<boolean> {
    await this.sync();
    let found = false;
    for (const u of this.users().filter((x) => x.name === name)) {
      found = (await this.#store.delete(ENROLLED_NS, String(u.id))) || found;
    }
    for (const i of this.invites().filter((x) => x.name === name && x.state !== "used")) {
      found = (await this.#store.delete(INVITE_NS, String(i.id))) || found;
    }
    await this.sync();
    return found;
  }

  /** Extends an enrolled user's life by `ms`; returns the new `not_after`. */
  async extend(name: string, ms: number): Promise<number> {
    await this.sync();
    const u = this.find(name);
    if (!u) throw new Error(`extend: no enrolled user named "${name}"`);
    if (!(ms > 0)) throw new Error("extend: --for must be positive");
    const next = { ...u, not_after: u.not_after + ms };
    await this.#store.set(ENROLLED_NS, String(u.id), next, next.not_after);
    await this.sync();
    return next.not_after;
  }
}

function b64(text: string): Uint8Array {
  return Uint8Array.fromBase64(text);
}

function randomU31(): number {
  return new DataView(randomFillSync(new Uint8Array(4)).buffer).getUint32(0) & 0x7fffffff;
}

function sameUsers(a: Map<number, EnrolledRecord>, b: Map<number, EnrolledRecord>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, u] of a) {
    const o = b.get(id);
    if (!o || o.not_after !== u.not_after || o.ed25519_public !== u.ed25519_public) return false;
  }
  return true;
}

function sameInvites(a: Map<number, InviteRecord>, b: Map<number, InviteRecord>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, i] of a) if (b.get(id)?.state !== i.state) return false;
  return true;
}

/**
 * Keepalive and destructor timers for any action.
 *
 * A session starts when an action with `keepalive` (or `max_lifetime`) and a destructor
 * first runs: the constructor (the action itself) runs, then a timer is armed. Each request
 * for the same user + action + source renews it (deadline = now + keepalive, never past the
 * max lifetime). When the deadline passes the destructor runs: the action's configured
 * destructor argv (with `SIGLATCH_USER`, `_USER_ID`, `_ACTION`, `_ACTION_ID`, `_SOURCE_IP`,
 * `_SERVER`, `_SOURCE_PORT`, `_REQUEST_ID`, `_GRANT_IP` and `SIGLATCH_DESTRUCTOR_*`, rebuilt
 * from the record and the config; not the payload), a firewall revoke, or both.
 *
 * The stored record names the action, user and source, never what to run (see
 * {@linkcode DestructorSpec}); it is validated when read ({@linkcode readTimerRecord}).
 *
 * Durability and "exactly once": every timer is a record in the state store (namespace
 * `timers`) with a state. Before the destructor starts its record is durably marked
 * `running`; after it ends, `done` (kept for an hour for `list`, then expired). After a
 * restart, even after `kill -9`, `start()` loads the records: `armed` ones are scheduled
 * (at once when overdue), `done` ones never run again. A record found `running` means the
 * process died while the destructor ran; whether it finished is unknowable, and the
 * choice here is **at-least-once** for that window: it runs again (attempt 2, visible to
 * the script as `SIGLATCH_DESTRUCTOR_ATTEMPT=2`), because a destructor closes access and a
 * door left open is worse than closing it twice (a revoke is idempotent; scripts should be).
 * Outside that window, each destructor runs exactly once. After `maxAttempts` (default 3)
 * starts it is given up and marked `done` so a destructor that crashes the process cannot
 * crash-loop it.
 *
 * One process per store owns the timers (a cluster of daemons on one Redis must give the
 * timers to one node).
 * @module
 */
import type { StateStore } from "../state/store.ts";
import type { IpAddress } from "../util/ip.ts";
import { formatIp, parseIp } from "../util/ip.ts";

/** Store namespace of timers. */
export const TIMERS_NAMESPACE = "timers";

/**
 * What a timer's destructor is about, as stored: names of config entries and addresses,
 * never a command, uid, gid or environment. When it fires, what to run is rebuilt from the
 * config loaded then (see `sessions.ts`): an action that is gone, renamed or of another type
 * runs nothing. So whoever can write the store can at most make a configured destructor run
 * early, as its configured user, not run a command of their own.
 */
export interface DestructorSpec {
  /** Config id of the action that armed it. */
  actionId: number;
  /** Its name when armed (another name under that id at fire time is another action). */
  action: string;
  /** Its type when armed. */
  kind: "exec" | "firewall";
  /** User id. */
  userId: number;
  /** Request source (canonical address). */
  source: string;
  /** The address a firewall session granted (canonical); its grant is revoked first. */
  grantAddress?: string;
  /** Server the request arrived on (for `SIGLATCH_SERVER`). */
  server?: string;
  /** Source port (for `SIGLATCH_SOURCE_PORT`). */
  sourcePort?: number;
  /** Hex request id of the request that armed it (for `SIGLATCH_REQUEST_ID`). */
  requestId?: string;
}

/** Why a destructor runs. */
export type DestructorReason = "keepalive_lapsed" | "max_lifetime" | "revoked" | "recovered";

/** Format version of stored timer records; records without it are from before issue 14. */
export const TIMER_FORMAT = 2;

/** A timer as stored. */
export interface TimerRecord {
  /** Format version ({@linkcode TIMER_FORMAT}). */
  v: typeof TIMER_FORMAT;
  /** Session key (see {@linkcode timerKey}). */
  key: string;
  /** Unique per arming (a re-armed key is a new session). */
  id: string;
  /** State. */
  state: "armed" | "running" | "done";
  /** What to run. */
  spec: DestructorSpec;
  /** Renewal period (ms), if any. */
  keepaliveMs?: number;
  /** When the destructor runs (epoch ms). */
  deadline: number;
  /** Never later than this (epoch ms). */
  maxDeadline?: number;
  /** When armed (epoch ms). */
  armedAt: number;
  /** Last renewal (epoch ms). */
  renewedAt: number;
  /** Renewals so far. */
  renewals: number;
  /** Destructor starts so far. */
  attempts: number;
  /** Why it ran / runs. */
  reason?: DestructorReason;
  /** When it finished (epoch ms). */
  doneAt?: number;
  /** True when the destructor reported success. */
  ok?: boolean;
  /** Short result text. */
  detail?: string;
}

/** Runs a destructor; resolves with how it went (must not throw, but may). */
export type DestructorRunner = (
  spec: DestructorSpec,
  info: { key: string; reason: DestructorReason; attempt: number },
) => Promise<{ ok: boolean; detail?: string }>;

/** Options for {@linkcode TimerManager}. */
export interface TimerManagerOptions {
  /** Clock (epoch ms). */
  clock?: () => number;
  /** How long `done` records stay listed (ms); default 1 h. */
  retainDoneMs?: number;
  /** Starts before a destructor is given up; default 3. */
  maxAttempts?: number;
  /** Called after each destructor run. */
  onDone?: (rec: TimerRecord) => void;
}

/** Arm parameters. */
export interface ArmOptions {
  /** Renewal period (ms). */
  keepaliveMs?: number;
  /** When to run (epoch ms). */
  deadline: number;
  /** Hard end (epoch ms). */
  maxDeadline?: number;
}

/** The session key: user + action + source address. */
export function timerKey(userId: number, actionId: number, source: IpAddress): string {
  return `${userId}|${actionId}|${formatIp(source)}`;
}

/** The session key a spec belongs to (a firewall session's is its granted address). */
export function specKey(spec: DestructorSpec): string {
  return `${spec.userId}|${spec.actionId}|${spec.grantAddress ?? spec.source}`;
}

/** Longest `detail` kept in a record. */
const MAX_DETAIL = 512;
/** Latest plausible timestamp (year ~2286): anything later is junk. */
const MAX_TIME = 9_999_999_999_999;
const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STATES = new Set(["armed", "running", "done"]);
const REASONS = new Set(["keepalive_lapsed", "max_lifetime", "revoked", "recovered"]);
const SPEC_FIELDS = new Set([
  "actionId",
  "action",
  "kind",
  "userId",
  "source",
  "grantAddress",
  "server",
  "sourcePort",
  "requestId",
]);
const RECORD_FIELDS = new Set([
  "v",
  "key",
  "id",
  "state",
  "spec",
  "keepaliveMs",
  "deadline",
  "maxDeadline",
  "armedAt",
  "renewedAt",
  "renewals",
  "attempts",
  "reason",
  "doneAt",
  "ok",
  "detail",
]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) &&
    Object.getPrototypeOf(v) === Object.prototype;
}
function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}
function isTime(v: unknown): v is number {
  return isInt(v, 0, MAX_TIME);
}
function optional(v: unknown, check: (v: unknown) => boolean): boolean {
  return v === undefined || check(v);
}

/** Checks a stored spec; returns why it is refused, or undefined when it is fine. */
function specProblem(spec: unknown): string | undefined {
  if (!isObject(spec)) return "spec is not an object";
  if ("exec" in spec || "revokeGrant" in spec || "argv" in spec) {
    return "old format (a stored command): re-arm it with a new request";
  }
  for (const k of Object.keys(spec)) if (!SPEC_FIELDS.has(k)) return `unknown spec field ${k}`;
  if (!isInt(spec.actionId, 1, 65535)) return "actionId out of range";
  if (typeof spec.action !== "string" || !NAME.test(spec.action)) return "bad action name";
  if (spec.kind !== "exec" && spec.kind !== "firewall") return "bad kind";
  if (!isInt(spec.userId, 1, 0xffffffff)) return "userId out of range";
  if (!isCanonicalAddress(spec.source)) return "source is not a canonical address";
  if (!optional(spec.grantAddress, isCanonicalAddress)) {
    return "grantAddress is not a canonical address";
  }
  if (spec.kind === "exec" && spec.grantAddress !== undefined) {
    return "an exec session grants nothing";
  }
  if (!optional(spec.server, (v) => typeof v === "string" && NAME.test(v))) return "bad server";
  if (!optional(spec.sourcePort, (v) => isInt(v, 0, 65535))) return "bad sourcePort";
  if (!optional(spec.requestId, (v) => typeof v === "string" && /^[0-9a-f]{32}$/.test(v))) {
    return "bad requestId";
  }
  return undefined;
}

/** True for one canonical IP address (the only form that may reach nft or an env var). */
export function isCanonicalAddress(v: unknown): v is string {
  if (typeof v !== "string" || !/^[0-9a-f:.]{2,45}$/.test(v)) return false;
  const ip = parseIp(v);
  return ip !== undefined && formatIp(ip) === v;
}

/**
 * Validates a timer record read from the store under `key`: every field's type and range,
 * no unknown field, the key rebuilt from the spec. Returns the record, or why it is refused.
 */
export function readTimerRecord(key: string, value: unknown): TimerRecord | string {
  if (!isObject(value)) return "not an object";
  if (value.v !== TIMER_FORMAT) {
    return isObject(value.spec) && ("exec" in value.spec || "revokeGrant" in value.spec)
      ? "old format (a stored command): skipped, re-arm it with a new request"
      : "unknown format version";
  }
  for (const k of Object.keys(value)) if (!RECORD_FIELDS.has(k)) return `unknown field ${k}`;
  const why = specProblem(value.spec);
  if (why) return why;
  if (value.key !== key || key !== specKey(value.spec as DestructorSpec)) {
    return "key does not match its spec";
  }
  if (typeof value.id !== "string" || !UUID.test(value.id)) return "bad id";
  if (typeof value.state !== "string" || !STATES.has(value.state)) return "bad state";
  if (!optional(value.keepaliveMs, (v) => isInt(v, 1, MAX_TIME))) return "bad keepaliveMs";
  for (const f of ["deadline", "armedAt", "renewedAt"]) {
    if (!isTime(value[f])) return `bad ${f}`;
  }
  if (!optional(value.maxDeadline, isTime) || !optional(value.doneAt, isTime)) {
    return "bad maxDeadline or doneAt";
  }
  if (!isInt(value.renewals, 0, 2 ** 31) || !isInt(value.attempts, 0, 1000)) {
    return "bad renewals or attempts";
  }
  if (!optional(value.reason, (v) => typeof v === "string" && REASONS.has(v))) return "bad reason";
  if (!optional(value.ok, (v) => typeof v === "boolean")) return "bad ok";
  if (!optional(value.detail, (v) => typeof v === "string" && v.length <= MAX_DETAIL)) {
    return "bad detail";
  }
  return value as unknown as TimerRecord;
}

/** The timing an action's config asks for, from `now`; `undefined` when it has no timer. */
export function timerPlan(
  action: {
    type: string;
    keepalive?: number;
    max_lifetime?: number;
    destructor?: string[] | "revoke";
  },
  now: number,
): { keepaliveMs?: number; deadline: number; maxDeadline?: number } | undefined {
  if (action.keepalive === undefined && action.max_lifetime === undefined) return undefined;
  if (action.destructor === undefined && action.type !== "firewall") return undefined;
  const maxDeadline = action.max_lifetime === undefined ? undefined : now + action.max_lifetime;
  const first = action.keepalive === undefined ? maxDeadline! : now + action.keepalive;
  return {
    keepaliveMs: action.keepalive,
    deadline: maxDeadline === undefined ? first : Math.min(first, maxDeadline),
    maxDeadline,
  };
}

/** setTimeout's longest delay; longer waits are re-armed. */
const MAX_DELAY = 2_147_000_000;

interface Entry {
  rec: TimerRecord;
  handle?: ReturnType<typeof setTimeout>;
}

/** Durable keepalive/destructor timers; see the module doc. */
export class TimerManager {
  readonly #store: StateStore;
  readonly #run: DestructorRunner;
  readonly #clock: () => number;
  readonly #retainDone: number;
  readonly #maxAttempts: number;
  readonly #onDone: (rec: TimerRecord) => void;
  readonly #entries = new Map<string, Entry>();
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  /** Creates the manager; call {@linkcode start} to load and schedule stored timers. */
  constructor(store: StateStore, runDestructor: DestructorRunner, opts: TimerManagerOptions = {}) {
    this.#store = store;
    this.#run = runDestructor;
    this.#clock = opts.clock ?? Date.now;
    this.#retainDone = opts.retainDoneMs ?? 3_600_000;
    this.#maxAttempts = opts.maxAttempts ?? 3;
    this.#onDone = opts.onDone ?? (() => {});
  }

  /** Loads stored timers: schedules armed ones (overdue: at once), re-runs interrupted ones. */
  async start(): Promise<void> {
    const now = this.#clock();
    for (const stored of await this.#store.list<unknown>(TIMERS_NAMESPACE, now)) {
      const rec = readTimerRecord(stored.key, stored.value);
      if (typeof rec === "string") {
        this.#store.audit.reject(TIMERS_NAMESPACE, stored.key, rec);
        continue;
      }
      if (rec.state === "done") continue;
      if (rec.state === "running") {
        // Died while the destructor ran: at-least-once (see module doc).
        rec.state = "armed";
        rec.reason = "recovered";
        rec.deadline = now;
      }
      const entry: Entry = { rec };
      this.#entries.set(rec.key, entry);
      this.#schedule(entry);
    }
  }

  /** Arms (or re-arms, as a new session) the timer of the spec's session key; returns it. */
  async arm(spec: DestructorSpec, opts: ArmOptions): Promise<TimerRecord> {
    const why = specProblem(spec);
    if (why) throw new Error(`timer spec refused: ${why}`);
    const key = specKey(spec);
    const now = this.#clock();
    const rec: TimerRecord = {
      v: TIMER_FORMAT,
      key,
      id: crypto.randomUUID(),
      state: "armed",
      spec,
      keepaliveMs: opts.keepaliveMs,
      deadline: opts.maxDeadline === undefined
        ? opts.deadline
        : Math.min(opts.deadline, opts.maxDeadline),
      maxDeadline: opts.maxDeadline,
      armedAt: now,
      renewedAt: now,
      renewals: 0,
      attempts: 0,
    };
    const old = this.#entries.get(key);
    if (old?.handle !== undefined) clearTimeout(old.handle);
    const entry: Entry = { rec };
    this.#entries.set(key, entry);
    await this.#store.set(TIMERS_NAMESPACE, key, rec);
    this.#schedule(entry);
    return rec;
  }

  /**
   * Renews an armed session: deadline = now + keepalive (never past maxDeadline). Returns
   * the record, or `undefined` when there is no armed session (none, running or done):
   * the caller then starts a new one (constructor + {@linkcode arm}).
   */
  async renew(key: string, now = this.#clock()): Promise<TimerRecord | undefined> {
    const entry = this.#entries.get(key);
    if (!entry || entry.rec.state !== "armed") return undefined;
    const rec = entry.rec;
    if (rec.deadline <= now) return undefined; // due: the destructor is about to run
    if (rec.keepaliveMs !== undefined) {
      const next = now + rec.keepaliveMs;
      rec.deadline = rec.maxDeadline === undefined ? next : Math.min(next, rec.maxDeadline);
    }
    rec.renewedAt = now;
    rec.renewals++;
    await this.#store.set(TIMERS_NAMESPACE, key, rec);
    if (this.#entries.get(key) === entry && rec.state === "armed") this.#schedule(entry);
    return rec;
  }

  /** Removes an armed timer without running its destructor; true when there was one. */
  async cancel(key: string): Promise<boolean> {
    const entry = this.#entries.get(key);
    if (!entry || entry.rec.state !== "armed") return false;
    if (entry.handle !== undefined) clearTimeout(entry.handle);
    this.#entries.delete(key);
    await this.#store.delete(TIMERS_NAMESPACE, key);
    return true;
  }

  /** Runs an armed timer's destructor now (reason `revoked`); resolves when it finished. */
  async fire(key: string): Promise<boolean> {
    const entry = this.#entries.get(key);
    if (!entry || entry.rec.state !== "armed") return false;
    if (entry.handle !== undefined) clearTimeout(entry.handle);
    entry.rec.reason = "revoked";
    await this.#track(this.#fire(entry, entry.rec.id));
    return true;
  }

  /** Armed and running timers (matching `pred` when given), soonest first. */
  list(pred?: (rec: TimerRecord) => boolean): TimerRecord[] {
    return [...this.#entries.values()].map((e) => e.rec).filter((r) => !pred || pred(r))
      .sort((a, b) => a.deadline - b.deadline);
  }

  /** Waits for destructors that are running now. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** Stops scheduling (stored timers stay for the next start) and waits for running destructors. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const e of this.#entries.values()) if (e.handle !== undefined) clearTimeout(e.handle);
    await this.idle();
  }

  #schedule(entry: Entry): void {
    if (this.#stopped) return;
    if (entry.handle !== undefined) clearTimeout(entry.handle);
    const delay = Math.max(0, entry.rec.deadline - this.#clock());
    const id = entry.rec.id;
    entry.handle = setTimeout(() => {
      entry.handle = undefined;
      if (entry.rec.deadline > this.#clock()) return this.#schedule(entry); // long wait, or renewed
      this.#track(this.#fire(entry, id));
    }, Math.min(delay, MAX_DELAY));
  }

  #track(p: Promise<void>): Promise<void> {
    this.#running.add(p);
    return p.finally(() => this.#running.delete(p));
  }

  async #fire(entry: Entry, id: string): Promise<void> {
    const rec = entry.rec;
    if (rec.id !== id || rec.state !== "armed" || this.#entries.get(rec.key) !== entry) return;
    const now = this.#clock();
    rec.reason ??= rec.maxDeadline !== undefined && now >= rec.maxDeadline
      ? "max_lifetime"
      : "keepalive_lapsed";
    rec.state = "running";
    rec.attempts++;
    let result: { ok: boolean; detail?: string };
    if (rec.attempts > this.#maxAttempts) {
      result = { ok: false, detail: `given up after ${rec.attempts - 1} interrupted attempts` };
    } else {
      // Durable before the destructor starts: a crash from here on re-runs it (at-least-once).
      try {
        await this.#store.set(TIMERS_NAMESPACE, rec.key, rec);
      } catch (err) {
        // Cannot make it durable: run anyway (closing access matters more than bookkeeping).
        rec.detail = `state store: ${err instanceof Error ? err.message : err}`.slice(
          0,
          MAX_DETAIL,
        );
      }
      try {
        result = await this.#run(rec.spec, {
          key: rec.key,
          reason: rec.reason,
          attempt: rec.attempts,
        });
      } catch (err) {
        result = { ok: false, detail: err instanceof Error ? err.message : String(err) };
      }
    }
    rec.state = "done";
    rec.doneAt = this.#clock();
    rec.ok = result.ok;
    rec.detail = result.detail?.slice(0, MAX_DETAIL);
    if (this.#entries.get(rec.key) === entry) {
      this.#entries.delete(rec.key);
      try {
        await this.#store.set(TIMERS_NAMESPACE, rec.key, rec, rec.doneAt + this.#retainDone);
      } catch {
        // the next start would re-run it (at-least-once); nothing better to do here
      }
    }
    this.#onDone(rec);
  }
}

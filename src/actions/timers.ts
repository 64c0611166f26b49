/**
 * Keepalive and destructor timers for any action.
 *
 * A session starts when an action with `keepalive` (or `max_lifetime`) and a destructor
 * first runs: the constructor (the action itself) runs, then a timer is armed. Each request
 * for the same user + action + source renews it (deadline = now + keepalive, never past the
 * max lifetime). When the deadline passes the destructor runs: an exec argv (with the
 * constructor's environment plus `SIGLATCH_DESTRUCTOR_*`), a firewall revoke, or both.
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
import { formatIp } from "../util/ip.ts";

/** Store namespace of timers. */
export const TIMERS_NAMESPACE = "timers";

/** An exec destructor. */
export interface ExecDestructor {
  /** The action whose destructor this is (run by name through an `ActionRunner`). */
  actionId?: number;
  /** The user whose session it ends. */
  userId?: number;
  /** argv. */
  argv: string[];
  /** The constructor's environment. */
  env: Record<string, string>;
  /** uid to run as. */
  uid?: number;
  /** gid to run as. */
  gid?: number;
  /** Working directory. */
  cwd?: string;
  /** Kill after (ms). */
  timeoutMs: number;
  /** Output cap (bytes). */
  outputCap: number;
}

/** What a destructor does: revoke a firewall grant, run a command, or both (revoke first). */
export interface DestructorSpec {
  /** Key of the grant to revoke (see `FirewallGrants.key`). */
  revokeGrant?: string;
  /** Command to run. */
  exec?: ExecDestructor;
}

/** Why a destructor runs. */
export type DestructorReason = "keepalive_lapsed" | "max_lifetime" | "revoked" | "recovered";

/** A timer as stored. */
export interface TimerRecord {
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
  /** Free-form labels for list output (user, action, source). */
  labels?: Record<string, string>;
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
  /** Labels for list output. */
  labels?: Record<string, string>;
}

/** The session key: user + action + source address. */
export function timerKey(userId: number, actionId: number, source: IpAddress): string {
  return `${userId}|${actionId}|${formatIp(source)}`;
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
    for (const { value: rec } of await this.#store.list<TimerRecord>(TIMERS_NAMESPACE, now)) {
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

  /** Arms (or re-arms, as a new session) the timer for `key`. */
  async arm(key: string, spec: DestructorSpec, opts: ArmOptions): Promise<TimerRecord> {
    const now = this.#clock();
    const rec: TimerRecord = {
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
      labels: opts.labels,
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
        rec.detail = `state store: ${err instanceof Error ? err.message : err}`;
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
    rec.detail = result.detail;
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

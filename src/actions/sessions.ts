/**
 * The daemon-facing façade over firewall grants and keepalive/destructor timers, so the
 * daemon's accept path needs a few calls only (see {@linkcode ActionSessions}).
 * @module
 */
import type { StateStore } from "../state/store.ts";
import type { Cidr, IpAddress } from "../util/ip.ts";
import { formatIp, parseIp } from "../util/ip.ts";
import { runExec } from "./exec.ts";
import { FirewallGrants, type FirewallSettings, grantAddress, type GrantView } from "./firewall.ts";
import { NftGrants, type NftGrantsOptions } from "../nft/grants.ts";
import type { GrantsBackend } from "../nft/backend.ts";
import type { ActionRunner } from "./runner.ts";
import type { ReconcileStatus } from "../nft/reconcile.ts";
import {
  type DestructorRunner,
  type DestructorSpec,
  timerKey,
  TimerManager,
  timerPlan,
  type TimerRecord,
} from "./timers.ts";

/** The parts of an action's config this module reads (as in `ActionConfig`). */
export interface SessionAction {
  /** Action id. */
  id: number;
  /** Action name. */
  name: string;
  /** Action type. */
  type: string;
  /** exec argv (for re-running nothing; informative). */
  command?: string[];
  /** Firewall settings (type firewall). */
  firewall?: FirewallSettings;
  /** Keepalive (ms). */
  keepalive?: number;
  /** Max lifetime (ms). */
  max_lifetime?: number;
  /** Destructor argv, or "revoke". */
  destructor?: string[] | "revoke";
  /** Action CIDRs (a payload address must be inside them too). */
  allow_cidrs?: Cidr[];
  /** Exec timeout (ms), also used for the destructor. */
  timeout: number;
  /** Output cap. */
  output_cap: number;
  /** Working directory. */
  working_dir?: string;
}

/** One accepted request, as the daemon knows it. */
export interface SessionRequest {
  /** The action. */
  action: SessionAction;
  /** User id. */
  userId: number;
  /** User name. */
  user: string;
  /** Source address. */
  source: IpAddress;
  /** Request payload. */
  payload: Uint8Array;
  /** The environment the constructor runs (ran) with; the exec destructor gets the same. */
  env?: Record<string, string>;
  /** uid/gid the action runs as (the exec destructor runs the same way). */
  uid?: number;
  /** gid. */
  gid?: number;
}

/** The reply data of a firewall request. */
export interface FirewallReply {
  /** Address opened for. */
  address: string;
  /** Ports. */
  ports: string[];
  /** End (epoch ms). */
  expires_at: number;
  /** Milliseconds left. */
  expires_in: number;
  /** Keepalive period (ms) when the action has one: re-send before it lapses. */
  keepalive?: number;
  /** True when this renewed an existing session. */
  renewed: boolean;
}

/** The outcome of {@linkcode ActionSessions.firewall}. */
export type FirewallOutcome =
  | { ok: true; data: FirewallReply }
  | { ok: false; reason: string };

/** How often the grant backend checks that its nftables objects still exist (ms). */
export const DEFAULT_RECONCILE_MS = 3000;

/** Options for {@linkcode ActionSessions.open}. */
export interface ActionSessionsOptions {
  /** nftables backend options (netns, priority, mark, guard, reconcileMs: default 3 s). */
  nft?: NftGrantsOptions;
  /** Delete the grants chain and sets in {@linkcode ActionSessions.stop} (default false). */
  removeOnShutdown?: boolean;
  /** Runs exec destructors by action name (the privileged part's, under privsep). */
  runner?: ActionRunner;
  /** An nft backend to use instead of building one (the privileged part's, under privsep). */
  nftGrants?: GrantsBackend;
  /** Clock (epoch ms). */
  clock?: () => number;
  /** Aborts exec destructors at shutdown. */
  signal?: AbortSignal;
  /** Called after every destructor run (for logs and counters). */
  onDestructor?: (rec: TimerRecord) => void;
  /** Called when an nft change fails. */
  onError?: (message: string) => void;
  /** Called after the grant table was repaired (default: through `onError`, so it is logged). */
  onRepair?: (missing: string[]) => void;
}

/** Builds the runner that executes destructor specs: revoke first, then exec. */
export function destructorRunner(
  firewall: FirewallGrants | undefined,
  signal?: AbortSignal,
  runner?: ActionRunner,
): DestructorRunner {
  return async (spec: DestructorSpec, info) => {
    const notes: string[] = [];
    let ok = true;
    if (spec.revokeGrant !== undefined) {
      if (firewall) {
        const gone = await firewall.revoke({ key: spec.revokeGrant });
        notes.push(`revoked ${gone.length}`);
      } else {
        ok = false;
        notes.push("no firewall backend");
      }
    }
    if (spec.exec && runner && spec.exec.actionId === undefined) {
      // A record that names no action (old format, or written by someone else): its argv
      // is never trusted.
      ok = false;
      notes.push("the record names no action: not run");
    } else if (spec.exec) {
      const env = {
        ...spec.exec.env,
        SIGLATCH_DESTRUCTOR: "1",
        SIGLATCH_DESTRUCTOR_REASON: info.reason,
        SIGLATCH_DESTRUCTOR_ATTEMPT: String(info.attempt),
      };
      const res = runner && spec.exec.actionId !== undefined
        // By name: argv and run_as come from the runner's config, not from the record.
        ? await runner.run({
          kind: "destructor",
          actionId: spec.exec.actionId,
          userId: spec.exec.userId,
          env,
          stdin: new Uint8Array(0),
        }).catch((err) => ({
          exitCode: -1,
          stdout: new Uint8Array(0),
          stderr: new Uint8Array(0),
          truncated: false,
          timedOut: false,
          durationMs: 0,
          spawnError: err instanceof Error ? err.message : String(err),
        }))
        : await runExec({
          argv: spec.exec.argv,
          env,
          uid: spec.exec.uid,
          gid: spec.exec.gid,
          cwd: spec.exec.cwd,
          timeoutMs: spec.exec.timeoutMs,
          outputCap: spec.exec.outputCap,
          signal,
        });
      ok &&= res.exitCode === 0 && !res.spawnError;
      notes.push(
        res.spawnError
          ? `spawn failed: ${res.spawnError}`
          : `exit ${res.exitCode}${res.timedOut ? " (timeout)" : ""}`,
      );
    }
    return { ok, detail: notes.join("; ") };
  };
}

/**
 * Firewall grants + session timers for the daemon.
 *
 * Accept path: `firewall(req)` for a firewall action (grants, and arms/renews its timer);
 * for any other action with a timer, `renew(req)` first (when it returns a record, the
 * request only renewed: do not run the constructor again), else run the constructor and,
 * when it succeeded, `armAfterConstructor(req)`.
 */
export class ActionSessions {
  /** The firewall grants (undefined when nftables could not be set up). */
  readonly grants?: FirewallGrants;
  /** The timers. */
  readonly timers: TimerManager;
  readonly #clock: () => number;
  readonly #removeOnShutdown: boolean;

  private constructor(
    grants: FirewallGrants | undefined,
    store: StateStore,
    opts: ActionSessionsOptions,
  ) {
    this.grants = grants;
    this.#clock = opts.clock ?? Date.now;
    this.#removeOnShutdown = opts.removeOnShutdown ?? false;
    this.timers = new TimerManager(store, destructorRunner(grants, opts.signal, opts.runner), {
      clock: opts.clock,
      onDone: opts.onDestructor,
    });
  }

  /**
   * Sets up nftables (when `withFirewall`: the config has firewall actions) from the stored
   * grants, then loads and schedules stored timers (overdue destructors run at once).
   */
  static async open(
    store: StateStore,
    withFirewall: boolean,
    opts: ActionSessionsOptions = {},
  ): Promise<ActionSessions> {
    let grants: FirewallGrants | undefined;
    if (withFirewall) {
      const nft = opts.nftGrants ??
        new NftGrants({
          reconcileMs: DEFAULT_RECONCILE_MS,
          onRepair: opts.onRepair ??
            ((missing) => opts.onError?.(`grants restored after ${missing.join(", ")} vanished`)),
          ...opts.nft,
          onError: opts.onError,
          clock: opts.clock,
        });
      grants = new FirewallGrants(store, nft, { clock: opts.clock });
      await grants.start();
    }
    const s = new ActionSessions(grants, store, opts);
    await s.timers.start();
    return s;
  }

  /** Handles a firewall action request: resolve the address, grant, arm or renew its timer. */
  async firewall(req: SessionRequest): Promise<FirewallOutcome> {
    const a = req.action;
    if (!a.firewall) return { ok: false, reason: "not_a_firewall_action" };
    if (!this.grants) return { ok: false, reason: "firewall_unavailable" };
    const addr = grantAddress(a.firewall, req.source, req.payload, a.allow_cidrs);
    if (!addr.ok) return addr;
    const now = this.#clock();
    const key = timerKey(req.userId, a.id, addr.address);
    const plan = timerPlan(a, now);
    const renewed = plan ? await this.timers.renew(key, now) : undefined;
    const rec = await this.grants.grant({
      userId: req.userId,
      user: req.user,
      action: a.name,
      address: addr.address,
      source: req.source,
      ports: a.firewall.ports,
      durationMs: a.firewall.duration,
      notAfter: renewed?.maxDeadline ?? plan?.maxDeadline,
    });
    if (plan && !renewed) {
      await this.timers.arm(key, {
        revokeGrant: rec.key,
        exec: Array.isArray(a.destructor) ? this.#execSpec(req, a.destructor) : undefined,
      }, { ...plan, labels: this.#labels(req) });
    }
    return {
      ok: true,
      data: {
        address: rec.address,
        ports: rec.ports.map((p) => `${p.proto}/${p.port}`),
        expires_at: rec.expiresAt,
        expires_in: rec.expiresAt - now,
        keepalive: a.keepalive,
        renewed: renewed !== undefined,
      },
    };
  }

  /**
   * For a non-firewall action with keepalive/max_lifetime + destructor: renews the
   * session of this user + action + source when one is armed (the constructor must then
   * NOT run again); `undefined` when the action has no timer or no session is armed.
   */
  async renew(req: SessionRequest): Promise<TimerRecord | undefined> {
    if (!timerPlan(req.action, this.#clock())) return undefined;
    return await this.timers.renew(timerKey(req.userId, req.action.id, req.source));
  }

  /** After the constructor succeeded: arms the destructor timer (no-op without a timer). */
  async armAfterConstructor(req: SessionRequest): Promise<TimerRecord | undefined> {
    const a = req.action;
    const plan = timerPlan(a, this.#clock());
    if (!plan || !Array.isArray(a.destructor)) return undefined;
    return await this.timers.arm(
      timerKey(req.userId, a.id, req.source),
      { exec: this.#execSpec(req, a.destructor) },
      { ...plan, labels: this.#labels(req) },
    );
  }

  /**
   * The `revoke` builtin: revokes the user's grants (all, or those for `address`) and runs
   * the destructors of the user's sessions now. Returns what was revoked.
   */
  async revokeUser(
    userId: number,
    address?: string,
  ): Promise<{ grants: number; sessions: number }> {
    const canon = address === undefined
      ? undefined
      : formatIp(parseIp(address) ?? { family: 4, value: 0n });
    // Session destructors revoke their own grants; count those too.
    const live = this.grants?.list({ userId, address: canon }) ?? [];
    let sessions = 0;
    for (
      const t of this.timers.list((r) => r.state === "armed" && r.key.startsWith(`${userId}|`))
    ) {
      if (canon !== undefined && !t.key.endsWith(`|${canon}`)) continue;
      if (await this.timers.fire(t.key)) sessions++;
    }
    if (this.grants) await this.grants.revoke({ userId, address: canon });
    const left = new Set(this.grants?.list({ userId, address: canon }).map((g) => g.key));
    return { grants: live.filter((g) => !left.has(g.key)).length, sessions };
  }

  /** The `list_grants` builtin: the user's (or everyone's) grants and sessions, with time left. */
  list(userId?: number): {
    grants: Array<
      Pick<GrantView, "address" | "action" | "user" | "expiresAt" | "remainingMs"> & {
        ports: string[];
      }
    >;
    sessions: Array<
      {
        key: string;
        state: string;
        deadline: number;
        remainingMs: number;
        labels?: Record<string, string>;
      }
    >;
  } {
    const now = this.#clock();
    const grants = (this.grants?.list(userId === undefined ? {} : { userId }) ?? []).map((g) => ({
      address: g.address,
      action: g.action,
      user: g.user,
      ports: g.ports.map((p) => `${p.proto}/${p.port}`),
      expiresAt: g.expiresAt,
      remainingMs: g.remainingMs,
    }));
    const sessions = this.timers.list((r) => userId === undefined || r.key.startsWith(`${userId}|`))
      .map((r) => ({
        key: r.key,
        state: r.state,
        deadline: r.deadline,
        remainingMs: Math.max(0, r.deadline - now),
        labels: r.labels,
      }));
    return { grants, sessions };
  }

  /**
   * Stops timers (stored ones stay for the next start); kernel grants keep their timeouts,
   * unless `removeOnShutdown` was set: then the grants chain and sets are deleted (the
   * stored grants stay, and the next start puts them back).
   */
  async stop(): Promise<void> {
    await this.timers.stop();
    if (this.#removeOnShutdown) await this.grants?.nft.teardown();
    else await this.grants?.nft.close();
  }

  /**
   * The grant backend's last nftables reconcile (when it last checked, whether and what it
   * had to repair); undefined without a firewall backend.
   */
  reconcileStatus(): ReconcileStatus | undefined {
    return this.grants?.nft.reconcileStatus();
  }

  #execSpec(req: SessionRequest, argv: string[]) {
    return {
      actionId: req.action.id,
      userId: req.userId,
      argv,
      env: req.env ?? {},
      uid: req.uid,
      gid: req.gid,
      cwd: req.action.working_dir,
      timeoutMs: req.action.timeout,
      outputCap: req.action.output_cap,
    };
  }

  #labels(req: SessionRequest): Record<string, string> {
    return { user: req.user, action: req.action.name, source: formatIp(req.source) };
  }
}

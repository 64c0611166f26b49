/**
 * The daemon-facing façade over firewall grants and keepalive/destructor timers, so the
 * daemon's accept path needs a few calls only (see {@linkcode ActionSessions}).
 *
 * The state store is not trusted with what runs: a timer record names an action, a user and
 * addresses, and when it fires the command, `run_as`, working directory, limits and
 * environment are rebuilt from the config loaded at that moment ({@linkcode SessionCatalog},
 * {@linkcode destructorCommand}). An action that left the config, was renamed or changed
 * type runs nothing (logged and counted); a revoke still happens, since it only closes.
 * @module
 */
import type { StateStore } from "../state/store.ts";
import type { Cidr, IpAddress } from "../util/ip.ts";
import { formatIp, parseIp } from "../util/ip.ts";
import { logger } from "../util/log.ts";
import type { RecordAudit } from "../state/audit.ts";
import { type ExecResult, type ExecSpec, runExec } from "./exec.ts";
import type { ActionRunner } from "./runner.ts";
import type { GrantsBackend } from "../nft/backend.ts";
import { FirewallGrants, type FirewallSettings, grantAddress, type GrantView } from "./firewall.ts";
import { NftGrants, type NftGrantsOptions, type PortSpec } from "../nft/grants.ts";
import type { ReconcileStatus } from "../nft/reconcile.ts";
import {
  type DestructorRunner,
  type DestructorSpec,
  timerKey,
  TimerManager,
  timerPlan,
  type TimerRecord,
  TIMERS_NAMESPACE,
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
  /** Server the request arrived on. */
  server?: string;
  /** Source port. */
  sourcePort?: number;
  /** Hex request id. */
  requestId?: string;
}

/**
 * The config a timer is resolved against when it fires (the daemon's `Runtime` fits):
 * actions with their resolved `run_as`, and users by id.
 */
export interface SessionCatalog {
  /** Actions by id. */
  actions: ReadonlyMap<number, { config: SessionAction; runAs?: { uid: number; gid: number } }>;
  /** Users by id (with the ids of the actions each may run, when known). */
  users: ReadonlyMap<
    number,
    { config: { id: number; name: string }; actionIds?: ReadonlySet<number> }
  >;
}

/** A catalog with nothing in it: every exec destructor is refused. */
export const EMPTY_CATALOG: SessionCatalog = { actions: new Map(), users: new Map() };

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
  /** An nft backend to use instead of building one. */
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
  /**
   * The config loaded now (called when a timer fires and at start); without it no exec
   * destructor runs and no stored grant is restored.
   */
  catalog?: () => SessionCatalog;
  /** Runs exec destructors by action name (the privileged part's, under privsep). */
  runner?: ActionRunner;
}

/** What a destructor spec resolves to in the current config. */
export type DestructorPlan =
  | { run: Omit<ExecSpec, "signal" | "stdin"> }
  | { none: true }
  | { refused: string };

/**
 * Rebuilds the exec destructor of `spec` from `catalog` (the config loaded now): the
 * action must still exist under the same id, name and type and have a destructor command,
 * and the user must still exist. argv, run_as, working directory, timeout and output cap
 * come from the config; the environment is the documented `SIGLATCH_*` set.
 */
export function destructorCommand(
  catalog: SessionCatalog,
  spec: DestructorSpec,
  info: { reason: string; attempt: number },
): DestructorPlan {
  const a = catalog.actions.get(spec.actionId);
  if (!a) return { refused: `action ${spec.actionId} (${spec.action}) is no longer in the config` };
  if (a.config.name !== spec.action) {
    return { refused: `action ${spec.actionId} is now ${a.config.name}, not ${spec.action}` };
  }
  if (a.config.type !== spec.kind) {
    return { refused: `action ${spec.action} is now of type ${a.config.type}, not ${spec.kind}` };
  }
  const argv = a.config.destructor;
  if (!Array.isArray(argv)) {
    return spec.kind === "exec"
      ? { refused: `action ${spec.action} has no destructor command any more` }
      : { none: true };
  }
  const user = catalog.users.get(spec.userId);
  if (!user) return { refused: `user ${spec.userId} is no longer in the config` };
  const env: Record<string, string> = {
    SIGLATCH_USER: user.config.name,
    SIGLATCH_USER_ID: String(spec.userId),
    SIGLATCH_ACTION: a.config.name,
    SIGLATCH_ACTION_ID: String(a.config.id),
    SIGLATCH_SOURCE_IP: spec.source,
    SIGLATCH_DESTRUCTOR: "1",
    SIGLATCH_DESTRUCTOR_REASON: info.reason,
    SIGLATCH_DESTRUCTOR_ATTEMPT: String(info.attempt),
  };
  if (spec.server !== undefined) env.SIGLATCH_SERVER = spec.server;
  if (spec.sourcePort !== undefined) env.SIGLATCH_SOURCE_PORT = String(spec.sourcePort);
  if (spec.requestId !== undefined) env.SIGLATCH_REQUEST_ID = spec.requestId;
  if (spec.grantAddress !== undefined) env.SIGLATCH_GRANT_IP = spec.grantAddress;
  return {
    run: {
      argv: [...argv],
      env,
      uid: a.runAs?.uid,
      gid: a.runAs?.gid,
      cwd: a.config.working_dir,
      timeoutMs: a.config.timeout,
      outputCap: a.config.output_cap,
    },
  };
}

/**
 * Builds the runner that executes destructor specs: revoke the session's grant first (it
 * only closes, so it happens whatever the config says now), then the exec destructor as the
 * current config describes it (see {@linkcode destructorCommand}); a refused one is logged
 * and counted in `audit`, never run.
 */
export function destructorRunner(
  firewall: FirewallGrants | undefined,
  catalog: () => SessionCatalog,
  audit?: RecordAudit,
  signal?: AbortSignal,
  runner?: ActionRunner,
): DestructorRunner {
  const log = logger("actions");
  return async (spec: DestructorSpec, info) => {
    const notes: string[] = [];
    let ok = true;
    if (spec.kind === "firewall" && spec.grantAddress !== undefined) {
      if (firewall) {
        const gone = await firewall.revoke({
          key: FirewallGrants.key(spec.userId, spec.action, spec.grantAddress),
        });
        notes.push(`revoked ${gone.length}`);
      } else {
        ok = false;
        notes.push("no firewall backend");
      }
    }
    const plan = destructorCommand(catalog(), spec, info);
    if ("refused" in plan) {
      ok = false;
      notes.push(`destructor not run: ${plan.refused}`);
      log.warn("destructor of {key} not run: {why}", { key: info.key, why: plan.refused });
      audit?.reject(TIMERS_NAMESPACE, info.key, `destructor not run: ${plan.refused}`);
    } else if ("run" in plan) {
      // Under privilege separation the privileged part runs it, by name: argv and run_as
      // come from its own config again.
      const res = runner
        ? await runner.run({
          kind: "destructor",
          actionId: spec.actionId,
          userId: spec.userId,
          env: plan.run.env,
          stdin: new Uint8Array(0),
        }).catch((err): ExecResult => ({
          exitCode: -1,
          stdout: new Uint8Array(0),
          stderr: new Uint8Array(0),
          truncated: false,
          timedOut: false,
          durationMs: 0,
          spawnError: err instanceof Error ? err.message : String(err),
        }))
        : await runExec({ ...plan.run, signal });
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
  readonly #catalog: () => SessionCatalog;

  private constructor(
    grants: FirewallGrants | undefined,
    store: StateStore,
    opts: ActionSessionsOptions,
  ) {
    this.grants = grants;
    this.#clock = opts.clock ?? Date.now;
    this.#removeOnShutdown = opts.removeOnShutdown ?? false;
    this.#catalog = opts.catalog ?? (() => EMPTY_CATALOG);
    const runner = destructorRunner(grants, this.#catalog, store.audit, opts.signal, opts.runner);
    this.timers = new TimerManager(store, runner, {
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
      const catalog = opts.catalog ?? (() => EMPTY_CATALOG);
      grants = new FirewallGrants(store, nft, {
        clock: opts.clock,
        ports: (rec) => grantPorts(catalog(), rec),
      });
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
      await this.timers.arm({ ...this.#spec(req, "firewall"), grantAddress: rec.address }, plan);
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
    if (!plan || !Array.isArray(a.destructor) || a.type !== "exec") return undefined;
    return await this.timers.arm(this.#spec(req, "exec"), plan);
  }

  /**
   * The `revoke` builtin: revokes the user's grants (all, or those for `address`) and runs
   * the destructors of the user's sessions now. Returns what was revoked.
   */
  async revokeUser(
    userId: number,
    address?: string,
  ): Promise<{ grants: number; sessions: number }> {
    const ip = address === undefined ? undefined : parseIp(address);
    if (address !== undefined && ip === undefined) return { grants: 0, sessions: 0 };
    const canon = ip === undefined ? undefined : formatIp(ip);
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
        labels: {
          user: this.#catalog().users.get(r.spec.userId)?.config.name ?? `#${r.spec.userId}`,
          action: r.spec.action,
          source: r.spec.source,
        },
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

  #spec(req: SessionRequest, kind: "exec" | "firewall"): DestructorSpec {
    return {
      actionId: req.action.id,
      action: req.action.name,
      kind,
      userId: req.userId,
      source: formatIp(req.source),
      ...(req.server === undefined ? {} : { server: req.server }),
      ...(req.sourcePort === undefined ? {} : { sourcePort: req.sourcePort }),
      ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
    };
  }
}

/**
 * The ports a stored grant may open: those of the firewall action it names, as the config
 * says now (the stored ports are ignored), and only while the user exists and may still
 * run that action; otherwise why it is refused.
 */
export function grantPorts(
  catalog: SessionCatalog,
  rec: { userId: number; action: string },
): PortSpec[] | string {
  const user = catalog.users.get(rec.userId);
  if (!user) return `user ${rec.userId} is no longer in the config`;
  for (const a of catalog.actions.values()) {
    if (a.config.name !== rec.action) continue;
    if (a.config.type !== "firewall" || !a.config.firewall) {
      return `action ${rec.action} is not a firewall action`;
    }
    const allowed = user.actionIds;
    if (allowed && !allowed.has(a.config.id)) {
      return `user ${rec.userId} may no longer run ${rec.action}`;
    }
    return a.config.firewall.ports.map((p) => ({ proto: p.proto, port: p.port }));
  }
  return `action ${rec.action} is no longer in the config`;
}

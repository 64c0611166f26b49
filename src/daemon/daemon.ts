/**
 * siglatchd: the composition root. Builds the stages (listeners → pipeline → dispatch →
 * handlers → replies), owns their lifecycle (start, reload, stop) and gives the admin
 * narrow methods; no other module writes its state.
 *
 * A datagram's path through the files: `listeners.ts` (socket) → `pipeline.ts` (gate,
 * open, replay, policy, challenge) → `dispatch.ts` (durable nonce, handler table) →
 * `../actions/*_handler.ts` → `replies.ts`. `docs/ARCHITECTURE.md` walks it through.
 * @module
 */
import { logger } from "../util/log.ts";
import type { StateStore } from "../state/store.ts";
import { SourceDefense } from "../policy/defense.ts";
import { Limiter } from "../actions/limiter.ts";
import { ActionSessions } from "../actions/sessions.ts";
import { builtinHandler } from "../actions/builtin.ts";
import { execHandler } from "../actions/exec_handler.ts";
import { pluginHandler } from "../actions/plugin_handler.ts";
import { relayHandler } from "../actions/relay_handler.ts";
import { RelayPaths } from "../actions/relay_paths.ts";
import { relayPathPolicy } from "./relay_policy.ts";
import { type ForwardHandler, forwardHandler } from "../actions/forward_handler.ts";
import { logPlugins } from "../plugins/report.ts";
import { firewallHandler } from "../actions/firewall_handler.ts";
import { type ActionRunner, localRunner } from "../actions/runner.ts";
import type { SystemMessage } from "../wire/reply_body.ts";
import { Reassembler, ReplayGuard } from "../wire/mod.ts";
import type { Config } from "../config/schema.ts";
import { type KeyMaterial, openerKeys, type Runtime, startOpenPool } from "./runtime.ts";
import type { BansBackend, GrantsBackend } from "../nft/backend.ts";
import type { NftBansOptions } from "../nft/bans.ts";
import type { OpenPool } from "./open_pool.ts";
import { NonceBatcher } from "./nonces.ts";
import { type ConfigChanges, prepareReload } from "./reload.ts";
import { Listeners, type ListenerStatus } from "./listeners.ts";
import { Pipeline } from "./pipeline.ts";
import { Dispatcher } from "./dispatch.ts";
import { Replies, type ReplyTarget } from "./replies.ts";
import { Drops } from "./drops.ts";
import { DeadDrops } from "./deaddrops.ts";
import { Overrides } from "./overrides.ts";
import { Notices } from "./notices.ts";
import { InFlight } from "./inflight.ts";
import { RetryCache } from "./retries.ts";
import { LoadSignal } from "./load.ts";
import { Enrollment } from "../enroll/registry.ts";
import { EnrollStage } from "../enroll/stage.ts";
import { withEnrolled } from "../enroll/users.ts";
import { Departures } from "../enroll/departures.ts";
import { ServerRotation } from "../rotation/rotator.ts";
import { withRotation } from "../rotation/apply.ts";
import { withIdentity } from "../rotation/identity.ts";
import { UserKeyRotation } from "../rotation/user_keys.ts";
import { DaemonMetrics } from "../metrics/daemon_metrics.ts";
import { UserKeySchedule } from "../rotation/user_schedule.ts";

/** Finished replies kept in memory for retries (the state store keeps them too). */
const RETRY_CACHE_ENTRIES = 4096;
import { daemonWide } from "./settings.ts";
import { PortHopper } from "../stealth/hopping.ts";
import { SessionPath } from "./session_path.ts";
import { x25519Stats } from "../crypto/keys.ts";

export type { ListenerStatus } from "./listeners.ts";

/** Options for a daemon instance. */
export interface DaemonOptions {
  /** Run everything except actions (log what would run); write nothing to the state store. */
  dryRun?: boolean;
  /** Clock (ms). */
  clock?: () => number;
  /** The config file (for reload). */
  configPath?: string;
  /** Lint warnings of the config it starts with (logged at start, shown by `status`). */
  warnings?: string[];
  /** Runs exec actions by name (default: here; the network part gets the privileged part's). */
  runner?: ActionRunner;
  /** The grant sets (default: nftables here; the network part gets the privileged part's). */
  nftGrants?: GrantsBackend;
  /** Builds the ban mirror (default: nftables here). */
  nftBans?: (opts: NftBansOptions) => BansBackend;
  /** Key material for a reload (default: read the key files here). */
  keySource?: () => Promise<KeyMaterial>;
  /** Open workers started beforehand (the network part starts them before it drops root). */
  pool?: OpenPool;
  /** Set socket options through libc (default true; the network part has no FFI). */
  socketOptions?: boolean;
  /** Port-hopping secrets by file (read before privileges were dropped; issue 17). */
  hopSecrets?: ReadonlyMap<string, Uint8Array>;
}

/** The outcome of {@linkcode Daemon.reload}. */
export type ReloadReport =
  | { ok: true; version: number; changes: ConfigChanges }
  | { ok: false; errors: string[] };

/** Counters exposed by `status` and metrics. */
export type Counters = Record<string, number>;

/** The daemon: owns the stages, the runtime, the state store and the action limiter. */
export class Daemon {
  #runtime: Runtime;
  /** The runtime built from the config, before enrolled users are merged in. */
  #base: Runtime;
  /** Invites and enrolled users (state store). */
  readonly enrollment: Enrollment;
  /** Server key rotations (state store). */
  readonly rotation: ServerRotation;
  /** User key rotations (state store). */
  readonly userKeys: UserKeyRotation;
  /** `keys.rotate_users_every`: user key rotations by schedule (state store). */
  readonly #userSchedule: UserKeySchedule;
  /** Enrolled users of the last registry change (their grants are cut when they leave). */
  readonly #departures = new Departures();
  #enrollTimer?: ReturnType<typeof setInterval>;
  /** The config the process started with (restart-only settings are compared to it). */
  readonly #startConfig: Config;
  readonly store: StateStore;
  readonly replay: ReplayGuard;
  readonly limiter: Limiter;
  /** Per-source rate limits and bans (before any crypto). */
  readonly defense: SourceDefense;
  /** Firewall grants and keepalive/destructor timers (set by start; never in a dry run). */
  #sessions?: ActionSessions;
  readonly counters: Counters = {};
  readonly started = Date.now();
  /** Admin switches. */
  readonly overrides = new Overrides();
  /** Config messages and broadcasts. */
  readonly notices: Notices;
  /** Prometheus metrics (`/metrics` on the admin web listener). */
  readonly metrics: DaemonMetrics;
  /** The in-process datagram path (tests drive it directly). */
  readonly pipeline: Pipeline;
  /** Sessions: their table and datagram path. */
  readonly sessionPath: SessionPath;
  readonly #clock: () => number;
  readonly #dryRun: boolean;
  readonly #listeners: Listeners;
  readonly #hopper: PortHopper;
  readonly #replies: Replies;
  readonly #deadDrops: DeadDrops;
  readonly #load: LoadSignal;
  readonly #nftGrants?: GrantsBackend;
  readonly #runner: ActionRunner;
  readonly #pluginsHere: boolean;
  readonly #forwards: ForwardHandler;
  readonly #relayPaths: RelayPaths;
  readonly #keySource?: () => Promise<KeyMaterial>;
  #pool?: OpenPool;
  readonly #nonces?: NonceBatcher;
  readonly #inflight = new InFlight();
  readonly #abort = new AbortController();
  readonly #log = logger("daemon");
  #stopping = false;
  #configVersion = 1;
  #warnings: string[];
  #restartRequired: string[] = [];
  /** The config file reloads read. */
  readonly configPath?: string;
  #reloading: Promise<ReloadReport> | undefined;

  /** Creates a daemon over a built runtime and an open state store. */
  constructor(runtime: Runtime, store: StateStore, opts: DaemonOptions = {}) {
    this.#runtime = this.#base = runtime;
    this.#startConfig = runtime.config;
    this.enrollment = new Enrollment(store, {
      clock: opts.clock,
      taken: () => ({
        names: new Set(this.#base.config.users.map((u) => u.name)),
        ids: new Set(this.#base.config.users.map((u) => u.id)),
      }),
      actionIds: () => this.#base.actionIdsByName,
      onChange: () => {
        this.#apply(this.#base, false);
        this.#cutDeparted();
      },
    });
    this.rotation = new ServerRotation(store, () => {
      const c = this.#base.config;
      return {
        servers: c.servers.map((s) => s.name),
        rotateEvery: c.keys.rotate_every,
        graceMs: c.keys.rotation_grace,
      };
    }, opts.clock ?? Date.now);
    this.userKeys = new UserKeyRotation(store, opts.clock ?? Date.now);
    this.#userSchedule = new UserKeySchedule(store, this.userKeys, opts.clock ?? Date.now);
    this.store = store;
    this.#clock = opts.clock ?? Date.now;
    this.#dryRun = opts.dryRun ?? false;
    this.configPath = opts.configPath;
    this.#warnings = opts.warnings ?? [];
    const settings = daemonWide(runtime.config);
    const count = (name: string) => this.count(name);
    this.replay = new ReplayGuard({
      skewMs: settings.replayWindowMs,
      maxEntries: settings.replayCacheEntries,
      clock: this.#clock,
    });
    this.limiter = new Limiter(
      runtime.config.execution.max_concurrent,
      runtime.config.execution.queue,
    );
    this.notices = new Notices(() => this.#runtime.config.messages, this.#clock);
    this.#replies = new Replies({
      rate: settings.replyRate,
      clock: this.#clock,
      count,
      messages: () => this.notices.list(),
    });
    const drops = new Drops(runtime.config.logging.drop_log_rate, count, this.#clock);
    this.#nonces = this.#dryRun ? undefined : new NonceBatcher(store);
    this.defense = new SourceDefense(settings.rateLimit, store, {
      clock: this.#clock,
      ports: ports(runtime),
      nftBans: opts.nftBans,
    });
    this.#nftGrants = opts.nftGrants;
    this.#pool = opts.pool;
    this.#keySource = opts.keySource;
    this.#load = new LoadSignal({
      pressure: () => this.defense.pressure,
      queueDepth: () => this.#pool?.depth ?? 0,
      maxDepth: Math.max(16, runtime.config.limits.open_queue >> 2),
    });
    const sessions = () => this.#sessions;
    this.#forwards = forwardHandler({ clock: this.#clock, count });
    this.#relayPaths = new RelayPaths({
      count,
      allowed: relayPathPolicy(() => this.#runtime, this.overrides, this.#clock),
      isOwn: (d) => [...this.#runtime.servers.values()].some((s) => s.opener.prefilter(d) === null),
    });
    const runner = opts.runner ?? localRunner(() => this.#runtime, this.#abort.signal);
    this.#runner = runner;
    // Plugins run where the runner runs: here, or in the privileged part (which logs them).
    this.#pluginsHere = opts.runner === undefined;
    if (this.#pluginsHere) logPlugins(this.#log, runtime.plugins, runtime.config.actions);
    const dispatcher = new Dispatcher({
      handlers: {
        builtin: builtinHandler({
          runtime: () => this.#runtime,
          messages: () => this.notices.list(),
          sessions,
        }),
        exec: execHandler({ limiter: this.limiter, sessions, runner }),
        plugin: pluginHandler({ limiter: this.limiter, sessions, runner }),
        firewall: firewallHandler(sessions),
        relay: relayHandler({ runtime: () => this.#runtime, count, paths: this.#relayPaths }),
        forward: this.#forwards,
      },
      store,
      nonces: this.#nonces,
      retries: this.#dryRun
        ? undefined
        : new RetryCache(store, RETRY_CACHE_ENTRIES, this.#clock, (n, e) =>
          this.#nonces!.claim(n, e, true)), // waited for, with the request's nonce
      replies: this.#replies,
      drops,
      count,
      observe: (user, action, status, s) => this.metrics.accepted(user, action, status, s),
    });
    const enroll = new EnrollStage<ReplyTarget>({
      registry: this.enrollment,
      send: (t, status, body) => this.#replies.send(t, status, body),
      claim: this.#nonces ? (n, e) => this.#nonces!.claim(n, e) : undefined,
      count,
    });
    this.metrics = new DaemonMetrics(this, this.#clock);
    this.pipeline = new Pipeline({
      enroll: (msg, reply, expiresAt, server) =>
        enroll.handle(msg, reply, expiresAt, server.identity),
      enrollKey: (id) => this.enrollment.verifier(id),
      userKeyConfirmed: (id) => {
        this.userKeys.confirm(id).then((changed) => {
          if (changed) this.#apply(this.#base, false);
        }).catch((err) =>
          this.#log.error("user key rotation: state store failed: {err}", { err: String(err) })
        );
      },
      runtime: () => this.#runtime,
      overrides: this.overrides,
      clock: this.#clock,
      count,
      drops,
      defense: this.defense,
      replay: this.replay,
      reassembler: new Reassembler({}, this.#clock),
      nonces: this.#nonces,
      replies: this.#replies,
      dispatcher,
      deadDrops: this.#deadDrops = new DeadDrops({
        runtime: () => this.#runtime,
        concurrent: runtime.config.execution.deaddrop_concurrent,
        queue: runtime.config.execution.deaddrop_queue,
        logRate: runtime.config.logging.drop_log_rate,
        disabled: (name) => this.overrides.has("actions", name),
        runner,
        inflight: this.#inflight,
        count,
        dryRun: this.#dryRun,
      }),
      inflight: this.#inflight,
      load: this.#load,
      pool: () => this.#pool,
      relayPaths: this.#relayPaths,
      sessions: this.sessionPath = new SessionPath({
        runtime: () => this.#runtime,
        overrides: this.overrides,
        clock: this.#clock,
        count,
        drops,
        dispatcher,
        replies: this.#replies,
        inflight: this.#inflight,
      }),
    });
    this.#listeners = new Listeners(
      (server, data, from, channel) => this.pipeline.handle(server, data, from, channel),
      count,
      opts.socketOptions ?? true,
    );
    this.#hopper = new PortHopper(
      opts.hopSecrets ?? new Map(),
      (servers) => this.#listeners.sync(servers),
      this.#clock,
      (err) => this.#log.error("port hopping: {err}", { err: String(err) }),
    );
  }

  /** The running runtime (replaced as a whole by reload). */
  get runtime(): Runtime {
    return this.#runtime;
  }

  /** Firewall grants and timers (absent before start and in a dry run). */
  get sessions(): ActionSessions | undefined {
    return this.#sessions;
  }

  /** True in dry-run mode. */
  get dryRun(): boolean {
    return this.#dryRun;
  }

  /** 1 + successful reloads. */
  get configVersion(): number {
    return this.#configVersion;
  }

  /** Lint warnings of the running config. */
  get warnings(): readonly string[] {
    return this.#warnings;
  }

  /** Settings changed since start that take effect only after a restart (field paths). */
  get restartRequired(): readonly string[] {
    return this.#restartRequired;
  }

  /** What `status` adds: when the nftables objects were last checked and repaired. */
  statusExtras(): Record<string, unknown> {
    return {
      load: { loaded: this.#load.loaded, lag_ms: Math.round(this.#load.lagMs) },
      open_pool: this.#pool ? { depth: this.#pool.depth, ...this.#pool.stats } : null,
      sessions: this.sessionPath.table.size,
      x25519_main_thread: x25519Stats.operations,
      x25519_workers: this.#pool?.stats.x25519 ?? 0,
      x25519_total: x25519Stats.operations + (this.#pool?.stats.x25519 ?? 0),
      nft_reconcile: {
        grants: this.#sessions?.reconcileStatus() ?? null,
        bans: this.defense.reconcileStatus() ?? null,
      },
    };
  }

  /** Open-worker pool figures for metrics (undefined without a pool). */
  openPool(): { size: number; depth: number; opened: number; refused: number } | undefined {
    const p = this.#pool;
    return p && { size: p.size, depth: p.depth, opened: p.stats.opened, refused: p.stats.refused };
  }

  /** Adds to a counter. */
  count(name: string, by = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + by;
  }

  /** Unexpired system messages (config + broadcasts). */
  messages(): SystemMessage[] {
    return this.notices.list();
  }

  /** Loads persisted nonces, starts bans and grants, then opens every configured listener. */
  async start(): Promise<void> {
    let restored = 0;
    for await (const n of this.store.loadNonces(this.#clock())) {
      this.replay.restore(n.nonce, n.expiresAt);
      restored++;
    }
    if (restored > 0) this.#log.info("restored {restored} replay nonces", { restored });
    this.#logWarnings("start");
    await this.enrollment.sync();
    await this.userKeys.sync();
    await this.rotation.sync();
    this.#apply(this.#base, false);
    // Enrolled users expire by themselves; other nodes' enrollments arrive through the store.
    const timer = this.#enrollTimer = setInterval(() => {
      this.enrollment.sync().catch((err) =>
        this.#log.error("enrolled users: state store failed: {err}", { err: String(err) })
      );
      this.rotation.sync().then(async (changed) => {
        await this.#rotateDueUsers();
        if (await this.userKeys.sync() && !changed) this.#apply(this.#base, false);
        if (changed) this.#rotated();
      }).catch((err) =>
        this.#log.error("key rotation: state store failed: {err}", { err: String(err) })
      );
    }, 1000);
    Deno.unrefTimer(timer);
    this.#load.start();
    await this.defense.start();
    if (!this.#dryRun) {
      // A dry run starts no saved timer: a destructor must not run for a test drive.
      const firewall = this.#runtime.config.firewall;
      this.#sessions = await ActionSessions.open(
        this.store,
        this.#runtime.config.actions.some((a) => a.type === "firewall"),
        {
          nft: {
            priority: firewall.nft_priority,
            mark: firewall.nft_mark,
            guard: firewall.guard_ports,
          },
          removeOnShutdown: firewall.remove_on_shutdown,
          // Timers and stored grants are resolved against the config running now.
          catalog: () => this.#runtime,
          clock: this.#clock,
          signal: this.#abort.signal,
          onDestructor: (r) =>
            this.#log.info("destructor {key} ran: {detail}", {
              key: r.key,
              detail: JSON.stringify(r),
            }),
          onError: (m) => this.#log.error("nftables: {m}", { m }),
          onRepair: (m) =>
            this.#log.warn("nftables grants restored after {m} vanished", { m: m.join(", ") }),
          nftGrants: this.#nftGrants,
          runner: this.#runner,
        },
      );
    }
    await this.startWorkers();
    this.#hopper.apply(this.#runtime.config.servers);
  }

  /**
   * Starts the open workers the config asks for, unless the caller handed some over
   * (`DaemonOptions.pool`: the network part starts them before it drops root, so they load
   * their code while they still can read it).
   */
  async startWorkers(): Promise<void> {
    this.#pool ??= await startOpenPool(this.#runtime, this.#clock);
    if (this.#pool) this.#log.info("opening requests in {n} workers", { n: this.#pool.size });
  }

  /** The addresses being listened on (`host:port`). */
  listening(): string[] {
    return this.#listeners.addresses();
  }

  /** Every listening socket with the kernel's buffer size, queue and drop counter. */
  listenerStatus(): ListenerStatus[] {
    return this.#listeners.status();
  }

  /**
   * Reloads the config file: validated and built off to the side, swapped in one
   * assignment. Requests in flight keep the runtime they started with; listeners that did
   * not change stay open, new ones open before removed ones close. Replay cache, bans,
   * grants and timers are untouched. Admin overrides are reset unless `keepOverrides`.
   */
  reload(keepOverrides = false): Promise<ReloadReport> {
    this.#reloading ??= this.#reload(keepOverrides).finally(() => this.#reloading = undefined);
    return this.#reloading;
  }

  async #reload(keepOverrides: boolean): Promise<ReloadReport> {
    if (!this.configPath) return { ok: false, errors: ["no config file to reload"] };
    const prepared = await prepareReload(
      this.configPath,
      this.#runtime.config,
      this.#startConfig,
      this.#keySource,
    );
    if (!prepared.ok) {
      this.count("reload_failed");
      this.#log.error("reload refused, the running config stays:\n{errors}", {
        errors: prepared.errors.join("\n"),
      });
      return prepared;
    }
    try {
      this.#apply(prepared.runtime);
    } catch (err) {
      this.count("reload_failed");
      const errors = [err instanceof Error ? err.message : String(err)];
      this.#log.error("reload refused: {errors}", { errors: errors.join("; ") });
      return { ok: false, errors };
    }
    if (!keepOverrides) this.overrides.clear();
    this.#configVersion++;
    this.#warnings = prepared.warnings;
    this.#restartRequired = prepared.changes.restart_required;
    this.count("reloads");
    this.#log.info("reloaded config version {version}: {changes}", {
      version: this.#configVersion,
      changes: JSON.stringify(prepared.changes),
    });
    this.#logWarnings("reload");
    if (this.#restartRequired.length > 0) {
      this.#log.warn("these changes take effect only after a restart: {fields}", {
        fields: this.#restartRequired.join(", "),
      });
    }
    return { ok: true, version: this.#configVersion, changes: prepared.changes };
  }

  #logWarnings(when: string): void {
    for (const warning of this.#warnings) {
      this.#log.warn("config warning ({when}): {warning}", { when, warning });
    }
  }

  #apply(base: Runtime, reconfigure = true): void {
    if (reconfigure) {
      this.#hopper.apply(base.config.servers);
      if (this.#pluginsHere) {
        logPlugins(this.#log, base.plugins, base.config.actions, this.#runtime.plugins);
      }
    }
    this.#base = base;
    const now = this.#clock();
    const rotated = withIdentity(withRotation(base, this.rotation.records, now, this.#clock), now);
    const next = this.#runtime = this.userKeys.apply(
      withEnrolled(rotated, this.enrollment.users()),
    );
    if (this.#pool) {
      const keys = openerKeys(next);
      this.#pool.update(keys.servers, [...keys.users, ...this.enrollment.inviteKeys()]);
    }
    if (!reconfigure) return;
    const settings = daemonWide(next.config);
    this.#replies.rate = settings.replyRate;
    this.limiter.max = next.config.execution.max_concurrent;
    this.limiter.queue = next.config.execution.queue;
    this.#deadDrops.resize(
      next.config.execution.deaddrop_concurrent,
      next.config.execution.deaddrop_queue,
    );
    this.defense.reconfigure(settings.rateLimit, ports(next)).catch((err) =>
      this.#log.error("rate limit reconfigure failed: {err}", { err: String(err) })
    );
  }

  /** Server `name`'s key rotates now (admin); the old key stays accepted for the grace period. */
  async rotateServer(name: string): Promise<{ generation: number; public_key: string }> {
    const rec = await this.rotation.rotate(name);
    this.#rotated();
    return {
      generation: rec.gen,
      public_key: this.#runtime.servers.get(name)?.publicKey.toBase64() ?? "",
    };
  }

  /** User `name`'s HMAC key rotates now; its next request receives the new key. */
  async rotateUser(name: string): Promise<{ until: string }> {
    const user = [...this.#runtime.users.values()].find((u) => u.config.name === name);
    if (!user) throw new Error(`rotate: no user named "${name}"`);
    const rec = await this.userKeys.rotate(user, this.#base.config.keys.rotation_grace);
    this.count("user_key_rotations");
    this.#apply(this.#base, false);
    this.#log.info("user {name}: key rotated; the previous key is accepted until it confirms", {
      name,
    });
    return { until: new Date(rec.until).toISOString() };
  }

  /** Enrolled users that left (expired, revoked): their grants and sessions end now. */
  #cutDeparted(): void {
    for (const u of this.#departures.update(this.enrollment.users())) {
      const sessions = this.#sessions;
      if (!sessions) continue;
      this.#inflight.track(
        sessions.revokeUser(u.id).then(
          (r) => {
            if (r.grants + r.sessions === 0) return;
            this.#log.info(
              "enrolled user {name} is gone: {grants} grants revoked, {sessions} sessions ended",
              {
                name: u.name,
                grants: r.grants,
                sessions: r.sessions,
              },
            );
          },
          (err) =>
            this.#log.error("enrolled user {name} is gone; revoking its grants failed: {err}", {
              name: u.name,
              err: String(err),
            }),
        ),
      );
    }
  }

  /** `keys.rotate_users_every`: rotates the users whose period is up (one node each). */
  async #rotateDueUsers(): Promise<void> {
    const keys = this.#base.config.keys;
    if (keys.rotate_users_every === undefined) return;
    const names = await this.#userSchedule.run({
      users: this.#runtime.users.values(),
      everyMs: keys.rotate_users_every,
      graceMs: keys.rotation_grace,
    });
    if (names.length > 0) this.#apply(this.#base, false);
    if (names.length > 0) this.count("user_key_rotations", names.length);
    for (const name of names) {
      this.#log.info(
        "user {name}: key rotated (schedule); the previous key is accepted until it confirms",
        {
          name,
        },
      );
    }
  }

  #rotated(): void {
    this.#apply(this.#base, false);
    const now = this.#clock();
    for (const [name, rec] of this.rotation.records) {
      const prev = rec.prev === undefined
        ? ""
        : rec.prev.until > now
        ? `, previous accepted until ${new Date(rec.prev.until).toISOString()}`
        : ", previous retired";
      this.#log.info("server {name}: key generation {gen}{prev}, {key}", {
        name,
        gen: rec.gen,
        prev,
        key: this.#runtime.servers.get(name)?.publicKey.toBase64(),
      });
    }
  }

  /** Stops receiving, lets running actions finish for `graceMs`, then kills the rest. */
  async stop(graceMs: number): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#hopper.stop();
    clearInterval(this.#enrollTimer);
    this.#listeners.closeAll();
    this.#load.stop();
    if (!(await this.#inflight.settle(graceMs))) {
      this.#log.warn("grace period over: killing {n} running actions", { n: this.#inflight.size });
      this.#abort.abort();
      await this.#inflight.settle(3000);
    }
    await this.#forwards.close();
    this.#relayPaths.close();
    await this.#pool?.stop();
    this.sessionPath.stop();
    await this.#nonces?.flush();
    await this.defense.stop();
    await this.#sessions?.stop();
    await this.store.close();
  }
}

function ports(runtime: Runtime): number[] {
  return [...new Set(runtime.config.servers.flatMap((s) => s.listen.map((l) => l.port)))];
}

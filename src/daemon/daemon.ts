/**
 * siglatchd: sockets in, pipeline, actions out.
 *
 * Order per datagram (cheapest first): server CIDRs → size + mac1 + open (wire) →
 * replay → policy (user, validity, ACL, CIDRs, payload) → durable nonce → dispatch → reply.
 * Nothing is ever sent for a datagram that did not authenticate.
 * @module
 */
import { encodeBase64 } from "../util/base64.ts";
import { anyCidrContains, type IpAddress, parseIp } from "../util/ip.ts";
import { DropLogLimiter, logger } from "../util/log.ts";
import type { StateStore } from "../state/store.ts";
import { BucketMap } from "../policy/buckets.ts";
import { SourceDefense } from "../policy/defense.ts";
import { replayWindowMs } from "../config/schema.ts";
import { Limiter, QueueFullError } from "../actions/limiter.ts";
import { runExec } from "../actions/exec.ts";
import { encodeReplyBody, type ReplyBody, type SystemMessage } from "../actions/result.ts";
import { runBuiltin } from "./builtins.ts";
import { ActionSessions, type SessionRequest } from "../actions/sessions.ts";
import type { ActionRuntime, Runtime, ServerRuntime, UserRuntime } from "./runtime.ts";
import { decidePolicy, type PolicyRefusal } from "./policy.ts";
import { NonceBatcher } from "./nonces.ts";
import { type ConfigChanges, prepareReload } from "./reload.ts";
import {
  makeCookie,
  maxReplyBody,
  type OpenedRequest,
  Reassembler,
  ReplayGuard,
  type ReplySealer,
  ReplyStatus,
  verifyCookie,
} from "../wire/mod.ts";
import type { UserVerifier } from "../wire/mod.ts";
import { UdpSocketHandle } from "../net/sockopt.ts";

/** Options for a daemon instance. */
export interface DaemonOptions {
  /** Run everything except actions (log what would run). */
  dryRun?: boolean;
  /** Clock (ms). */
  clock?: () => number;
  /** The config file (for reload). */
  configPath?: string;
}

/** The outcome of {@linkcode Daemon.reload}. */
export type ReloadReport =
  | { ok: true; version: number; changes: ConfigChanges }
  | { ok: false; errors: string[] };

/** A bound UDP socket and the server it serves. */
interface Listener {
  key: string;
  server: string;
  conn: Deno.DatagramConn;
  closed: boolean;
  /** The kernel socket behind `conn`, or why it could not be found. */
  socket: UdpSocketHandle | string;
  /** The `limits.recv_buffer` last applied (to re-apply only on change). */
  recvBuffer?: number;
}

/** One listening socket as `status` shows it. */
export interface ListenerStatus {
  /** `host:port`. */
  address: string;
  /** The server it serves. */
  server: string;
  /** Receive buffer bytes as the kernel accounts them (twice `limits.recv_buffer`). */
  receive_buffer_bytes?: number;
  /** Bytes of datagrams waiting to be read. */
  queued_bytes?: number;
  /** Datagrams the kernel dropped because the buffer was full, since the socket opened. */
  kernel_drops?: number;
  /** Why the kernel figures are missing. */
  socket_info_unavailable?: string;
}

/** Counters exposed by `status` and metrics. */
export type Counters = Record<string, number>;

/** Runtime on/off switches set by the admin (reset by reload unless persisted). */
export interface Overrides {
  /** Disabled server names. */
  servers: Set<string>;
  /** Disabled action names. */
  actions: Set<string>;
  /** Disabled user names. */
  users: Set<string>;
}

const MAX_REPLY_DATAGRAM = 1200;
/** Receive buffer per loop: larger than any datagram we accept, so oversize ones show as such. */
const RECEIVE_BUFFER_BYTES = 2048;
/** Builtins that change nothing: answered without waiting for the durable nonce commit. */
const READ_ONLY_BUILTINS = new Set(["ping", "version", "list_actions", "messages", "list_grants"]);
/** Concurrent receive calls per socket. */
const RECEIVE_LOOPS = 4;

/** The daemon: owns sockets, runtime, state and the action limiter. */
export class Daemon {
  runtime: Runtime;
  readonly store: StateStore;
  readonly replay: ReplayGuard;
  readonly limiter: Limiter;
  /** Per-source rate limits and bans (before any crypto). */
  readonly defense: SourceDefense;
  /** Firewall grants and keepalive/destructor timers (set by start). */
  sessions?: ActionSessions;
  readonly counters: Counters = {};
  readonly started = Date.now();
  readonly #clock: () => number;
  readonly #dryRun: boolean;
  readonly #listeners = new Map<string, Listener>();
  readonly #replyBuckets: BucketMap;
  readonly #dropLog: DropLogLimiter;
  readonly #nonces: NonceBatcher;
  readonly #reassembler: Reassembler;
  /** Key for challenge cookies; new at every start (cookies live 30-60 s anyway). */
  readonly #cookieSecret = crypto.getRandomValues(new Uint8Array(32));
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  readonly #log = logger("daemon");
  #stopping = false;
  /** Runtime messages added by `broadcast` (config messages come from the runtime). */
  broadcasts: SystemMessage[] = [];
  /** Admin switches. */
  overrides: Overrides = { servers: new Set(), actions: new Set(), users: new Set() };
  /** Incremented by every successful reload. */
  configVersion = 1;
  /** The config file reloads read. */
  configPath?: string;
  #reloading: Promise<ReloadReport> | undefined;

  /** True in dry-run mode. */
  get dryRun(): boolean {
    return this.#dryRun;
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
    const prepared = await prepareReload(this.configPath, this.runtime.config);
    if (!prepared.ok) {
      this.count("reload_failed");
      this.#log.error("reload refused, the running config stays:\n{errors}", {
        errors: prepared.errors.join("\n"),
      });
      return prepared;
    }
    try {
      this.#applyRuntime(prepared.runtime);
    } catch (err) {
      this.count("reload_failed");
      const errors = [`cannot open listeners: ${err instanceof Error ? err.message : err}`];
      this.#log.error("reload refused: {errors}", { errors: errors.join("; ") });
      return { ok: false, errors };
    }
    if (!keepOverrides) {
      this.overrides = { servers: new Set(), actions: new Set(), users: new Set() };
    }
    this.configVersion++;
    this.count("reloads");
    this.#log.info("reloaded config version {version}: {changes}", {
      version: this.configVersion,
      changes: JSON.stringify(prepared.changes),
    });
    if (prepared.changes.restart_required.length > 0) {
      this.#log.warn("reload: these changes take effect only after a restart: {fields}", {
        fields: prepared.changes.restart_required.join(", "),
      });
    }
    return { ok: true, version: this.configVersion, changes: prepared.changes };
  }

  #applyRuntime(next: Runtime): void {
    const previous = this.runtime;
    this.runtime = next;
    try {
      this.openListeners();
    } catch (err) {
      this.runtime = previous;
      this.openListeners();
      throw err;
    }
    this.#replyBuckets.rate = next.config.limits.reply_rate;
    this.limiter.max = next.config.execution.max_concurrent;
    this.limiter.queue = next.config.execution.queue;
    this.defense.reconfigure(next.config.rate_limit, this.#ports(next)).catch((err) =>
      this.#log.error("rate limit reconfigure failed: {err}", { err: String(err) })
    );
  }

  /** Creates a daemon over a built runtime and an open state store. */
  constructor(runtime: Runtime, store: StateStore, opts: DaemonOptions = {}) {
    this.runtime = runtime;
    this.store = store;
    this.#clock = opts.clock ?? Date.now;
    this.#dryRun = opts.dryRun ?? false;
    this.configPath = opts.configPath;
    const skew = replayWindowMs(runtime.config);
    const cap = runtime.config.limits.replay_cache_entries;
    this.replay = new ReplayGuard({ skewMs: skew, maxEntries: cap, clock: this.#clock });
    this.limiter = new Limiter(
      runtime.config.execution.max_concurrent,
      runtime.config.execution.queue,
    );
    this.#replyBuckets = new BucketMap(runtime.config.limits.reply_rate, 40, 65536);
    this.#dropLog = new DropLogLimiter(runtime.config.logging.drop_log_rate);
    this.#nonces = new NonceBatcher(store);
    this.#reassembler = new Reassembler({}, this.#clock);
    this.defense = new SourceDefense(
      runtime.config.rate_limit,
      store,
      { clock: this.#clock, ports: this.#ports(runtime) },
    );
  }

  #ports(runtime: Runtime): number[] {
    return [...new Set(runtime.config.servers.flatMap((s) => s.listen.map((l) => l.port)))];
  }

  /** Adds to a counter. */
  count(name: string, by = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + by;
  }

  /** Loads persisted nonces, then opens every configured listener. */
  async start(): Promise<void> {
    let restored = 0;
    for await (const n of this.store.loadNonces(this.#clock())) {
      this.replay.restore(n.nonce, n.expiresAt);
      restored++;
    }
    if (restored > 0) this.#log.info("restored {restored} replay nonces", { restored });
    await this.defense.start();
    const hasFirewall = this.runtime.config.actions.some((a) => a.type === "firewall");
    this.sessions = await ActionSessions.open(this.store, hasFirewall && !this.#dryRun, {
      nft: {
        priority: this.runtime.config.firewall.nft_priority,
        mark: this.runtime.config.firewall.nft_mark,
        guard: this.runtime.config.firewall.guard_ports,
      },
      removeOnShutdown: this.runtime.config.firewall.remove_on_shutdown,
      clock: this.#clock,
      signal: this.#abort.signal,
      onDestructor: (r) =>
        this.#log.info("destructor {key} ran: {detail}", {
          key: r.key,
          detail: JSON.stringify(r),
        }),
      onError: (m) => this.#log.error("nftables: {m}", { m }),
    });
    this.openListeners();
  }

  /** Opens listeners for every enabled server that has none yet; closes ones no longer configured. */
  openListeners(): void {
    const wanted = new Map<string, string>();
    for (const s of this.runtime.config.servers) {
      if (!s.enabled) continue;
      for (const l of s.listen) {
        wanted.set(`${l.family === 6 ? `[${l.host}]` : l.host}:${l.port}`, s.name);
      }
    }
    for (const [key, server] of wanted) {
      const existing = this.#listeners.get(key);
      if (existing) {
        existing.server = server;
        this.#applyReceiveBuffer(existing);
        continue;
      }
      const { host, port } = this.#splitKey(key);
      const conn = Deno.listenDatagram({ transport: "udp", hostname: host, port });
      const socket = UdpSocketHandle.find(conn.addr as Deno.NetAddr);
      const listener: Listener = { key, server, conn, closed: false, socket };
      this.#listeners.set(key, listener);
      this.#log.info("listening on udp {key} for server {server}", { key, server });
      this.#applyReceiveBuffer(listener);
      // Several receives in flight keep the socket drained (measured: 1 loop ≈40k/s,
      // 4 loops ≈100k/s on loopback).
      for (let i = 0; i < RECEIVE_LOOPS; i++) this.#receiveLoop(listener);
    }
    for (const [key, l] of this.#listeners) {
      if (!wanted.has(key)) this.#closeListener(l);
    }
  }

  /** The addresses being listened on (`host:port`). */
  listening(): string[] {
    return [...this.#listeners.keys()];
  }

  /** Every listening socket with the kernel's buffer size, queue and drop counter. */
  listenerStatus(): ListenerStatus[] {
    return [...this.#listeners.values()].map((l) => {
      const base = { address: l.key, server: l.server };
      const info = typeof l.socket === "string" ? l.socket : l.socket.memInfo();
      if (typeof info === "string") return { ...base, socket_info_unavailable: info };
      return {
        ...base,
        receive_buffer_bytes: info.receiveBufferBytes,
        queued_bytes: info.queuedBytes,
        kernel_drops: info.drops,
      };
    });
  }

  /** Sets the socket's receive buffer to its server's `limits.recv_buffer` when it changed. */
  #applyReceiveBuffer(l: Listener): void {
    const wanted = this.runtime.config.servers.find((s) => s.name === l.server)?.limits
      .recv_buffer;
    if (wanted === undefined || wanted === l.recvBuffer) return;
    l.recvBuffer = wanted;
    if (typeof l.socket === "string") {
      this.#log.warn("receive buffer of udp {key} left at the system default: {why}", {
        key: l.key,
        why: l.socket,
      });
      return;
    }
    const result = l.socket.setReceiveBuffer(wanted);
    if (typeof result === "string") {
      this.#log.warn("receive buffer of udp {key} not set: {why}", { key: l.key, why: result });
    } else if (result.capped) {
      this.#log.warn(
        "receive buffer of udp {key}: asked {asked} bytes, the kernel allows {effective} " +
          "(raise net.core.rmem_max or give the daemon CAP_NET_ADMIN)",
        { key: l.key, asked: wanted, effective: result.effective },
      );
    } else {
      this.#log.info("receive buffer of udp {key}: {asked} bytes (the kernel books {effective})", {
        key: l.key,
        asked: wanted,
        effective: result.effective,
      });
    }
  }

  #splitKey(key: string): { host: string; port: number } {
    const i = key.lastIndexOf(":");
    let host = key.slice(0, i);
    if (host.startsWith("[")) host = host.slice(1, -1);
    return { host, port: Number(key.slice(i + 1)) };
  }

  #closeListener(l: Listener): void {
    if (l.closed) return;
    l.closed = true;
    this.#listeners.delete(l.key);
    try {
      l.conn.close();
    } catch {
      // already closed
    }
  }

  async #receiveLoop(l: Listener): Promise<void> {
    // One buffer per loop: without it Deno allocates 64 KiB per datagram, and under a
    // flood the garbage collector, not the pipeline, sets the pace (measured: a bare
    // receiver drained 21k/s without and 76k/s with a reused buffer). handleDatagram copies
    // the datagram out only once its source passed the gate.
    const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
    while (!l.closed) {
      let data: Uint8Array, addr: Deno.Addr;
      try {
        [data, addr] = await l.conn.receive(buffer);
      } catch (err) {
        if (l.closed) return;
        this.count("receive_errors");
        this.#log.warn("receive error on {key}: {err}", { key: l.key, err: String(err) });
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      try {
        this.handleDatagram(l, data, addr as Deno.NetAddr);
      } catch (err) {
        this.count("handler_errors");
        this.#log.error("internal error handling a datagram: {err}", {
          err: err instanceof Error ? err.stack : String(err),
        });
      }
    }
  }

  #drop(reason: string, addr: Deno.NetAddr, extra: Record<string, unknown> = {}): void {
    this.count(`drop_${reason}`);
    this.count("dropped");
    const suppressed = this.#dropLog.take(this.#clock());
    if (suppressed < 0) return;
    this.#log.info("rejected reason={reason} src={ip} port={port}", {
      decision: "rejected",
      reason,
      ip: addr.hostname,
      port: addr.port,
      suppressed,
      ...extra,
    });
  }

  /**
   * Runs the pipeline for one datagram. Synchronous up to dispatch. `received` may be a view
   * of the receive loop's reused buffer: it is copied once it passed the per-source gate, so
   * a banned or rate-limited source costs no allocation at all.
   */
  handleDatagram(l: Listener, received: Uint8Array, addr: Deno.NetAddr): void {
    this.count("received");
    const server = this.runtime.servers.get(l.server);
    if (!server || !server.config.enabled || this.overrides.servers.has(l.server)) {
      return this.#drop("server_disabled", addr);
    }
    const ip = parseIp(addr.hostname);
    if (!ip) return this.#drop("bad_source", addr);
    const gate = this.defense.admit(ip);
    if (!gate.ok) return this.#drop(gate.reason, addr);
    if (!anyCidrContains(server.config.allow_cidrs, ip)) return this.#drop("server_cidr", addr);
    // Work after this turn (replies, exec stdin, dead drops) may keep views of it.
    const data = received.slice();

    const users = this.runtime.users;
    const lookup = (id: number): UserVerifier | undefined => users.get(id)?.verifier;
    const opened = server.opener.open(data, lookup);
    if (!opened.ok) {
      if (opened.replier && opened.msg && opened.userId !== undefined) {
        // Authenticated, but the timestamp is outside the window: say so (with our time).
        const user = users.get(opened.userId);
        this.#drop(opened.reason, addr, { user: user?.config.name });
        if (user && server.config.limits.explain_refusals) {
          this.#sendReply(l, addr, data.length, opened.replier, opened.msg, ReplyStatus.ClockSkew, {
            reason: "clock_skew",
          });
        }
        return;
      }
      if (server.deadDrops.length > 0 && this.#tryDeadDrop(server, l, data, addr)) return;
      this.defense.failed(ip, opened.reason);
      return this.#drop(opened.reason, addr);
    }
    const msg = opened.msg;
    if (msg.type === "chaff") {
      this.count("chaff");
      return;
    }
    const replayReason = this.replay.check(msg.nonce, msg.timestamp);
    if (replayReason !== null) {
      this.defense.failed(ip, replayReason);
      return this.#drop(replayReason, addr);
    }
    this.defense.succeeded(ip);
    this.replay.add(msg.nonce, msg.timestamp);

    let request: OpenedRequest = msg;
    if (msg.type === "fragment") {
      const whole = this.#reassemble(msg, addr);
      if (!whole) return;
      request = whole;
    } else if (msg.type !== "request" && msg.type !== "keepalive") {
      return this.#drop("unexpected_type", addr);
    }
    const user = users.get(msg.userId)!;
    const decision = decidePolicy({
      runtime: this.runtime,
      server,
      user,
      actionId: request.actionId,
      ip,
      payload: request.payload,
      now: this.#clock(),
      disabled: this.overrides,
    });
    if (!decision.ok) {
      this.#refuse(l, addr, data.length, opened.replier, request, user, decision);
      return;
    }
    // Challenge-response: a valid cookie proves the source address (and so lifts the
    // no-amplification cap on the reply); without one, answer with a cookie when the
    // user, the action or load calls for it.
    const proven = request.cookie !== undefined &&
      verifyCookie(this.#cookieSecret, addr.hostname, addr.port, request.cookie, this.#clock());
    const wantChallenge = decision.action.config.require_challenge ||
      user.config.require_challenge ||
      (server.config.challenge_under_load && this.defense.pressure);
    if (wantChallenge && !proven) {
      this.count("challenges");
      const cookie = makeCookie(this.#cookieSecret, addr.hostname, addr.port, this.#clock());
      this.#sendReply(l, addr, data.length, opened.replier, request, ReplyStatus.Challenge, {
        reason: "challenge",
        cookie: encodeBase64(cookie),
      });
      return;
    }
    const job = this.#accept(
      l,
      addr,
      proven ? MAX_REPLY_DATAGRAM : data.length,
      opened.replier,
      request,
      user,
      decision.action,
      ip,
    );
    this.#inflight.add(job);
    job.finally(() => this.#inflight.delete(job));
  }

  /**
   * Adds a fragment to its message; returns the whole message (as the completing
   * fragment's request, with the joined payload) when it is complete. Every fragment's nonce
   * is made durable as it arrives; the completing one is awaited in accept, and batches
   * commit in order, so a replayed set cannot run again after a restart.
   */
  #reassemble(msg: OpenedRequest, addr: Deno.NetAddr): OpenedRequest | undefined {
    const skew = this.replay.skewMs;
    const res = this.#reassembler.add(addr.hostname, msg.userId, msg.sessionId, msg.payload);
    if (res.status === "rejected") {
      this.#drop(res.reason, addr);
      return undefined;
    }
    if (res.status === "pending") {
      this.count("fragments_pending");
      this.#nonces.claim(msg.nonce, msg.timestamp + skew + 1000).catch(() => {
        this.count("state_errors");
      });
      return undefined;
    }
    this.count("fragmented_messages");
    return { ...msg, type: "request", payload: res.data };
  }

  #refuse(
    l: Listener,
    addr: Deno.NetAddr,
    requestSize: number,
    replier: ReplySealer,
    msg: OpenedRequest,
    user: UserRuntime,
    refusal: PolicyRefusal,
  ): void {
    this.#drop(refusal.reason, addr, { user: user.config.name, action: msg.actionId });
    const server = this.runtime.servers.get(l.server);
    if (!server?.config.limits.explain_refusals) return;
    this.#sendReply(l, addr, requestSize, replier, msg, ReplyStatus.Denied, {
      reason: refusal.reason,
    });
  }

  async #accept(
    l: Listener,
    addr: Deno.NetAddr,
    requestSize: number,
    replier: ReplySealer,
    msg: OpenedRequest,
    user: UserRuntime,
    action: ActionRuntime,
    ip: IpAddress,
  ): Promise<void> {
    // Durable before anything runs: a replay after a crash or restart must be refused.
    // Read-only builtins (ping, version, …) change nothing, so they answer at once and
    // their nonce is committed in the background (a graceful stop flushes it; after a
    // kill -9 only such a read-only request from the last few ms could be answered again,
    // with a reply sealed to the original client and no larger than the replayed packet).
    const skew = this.runtime.servers.get(l.server)?.config.limits.clock_skew ?? 30_000;
    const claim = this.#nonces.claim(msg.nonce, msg.timestamp + skew + 1000);
    const readOnly = action.config.type === "builtin" &&
      READ_ONLY_BUILTINS.has(action.config.builtin ?? "");
    if (readOnly) {
      claim.then(
        (fresh) => fresh || this.count("replay_cluster_read_only"),
        () => this.count("state_errors"),
      );
    } else {
      try {
        if (!(await claim)) return this.#drop("replay_cluster", addr);
      } catch (err) {
        this.count("state_errors");
        this.#log.error("state store failed, refusing request: {err}", { err: String(err) });
        return;
      }
    }
    if (user.config.max_uses !== undefined) {
      const uses = await this.store.increment("uses", String(user.config.id), 1);
      if (uses > user.config.max_uses) {
        return this.#refuse(l, addr, requestSize, replier, msg, user, {
          ok: false,
          reason: "max_uses_reached",
        });
      }
    }
    const requestId = hex(msg.nonce);
    this.count("accepted");
    this.#log.info(
      "accepted user={user} action={action} src={ip} port={port} request={request}",
      {
        decision: "accepted",
        user: user.config.name,
        action: action.config.name,
        ip: addr.hostname,
        port: addr.port,
        request: requestId,
      },
    );
    const a = action.config;
    let status: number = ReplyStatus.Ok;
    let exitCode = 0;
    let body: ReplyBody = {};
    let output: Uint8Array | undefined;
    try {
      const sreq: SessionRequest = {
        action: a,
        userId: user.config.id,
        user: user.config.name,
        source: ip,
        payload: msg.payload,
        env: this.#execEnv(l, addr, user, action, requestId, msg.payload),
        uid: action.runAs?.uid,
        gid: action.runAs?.gid,
      };
      if (a.type === "builtin" && a.builtin === "revoke") {
        body = { data: await this.sessions?.revokeUser(user.config.id) };
      } else if (a.type === "builtin" && a.builtin === "list_grants") {
        body = { data: this.sessions?.list(user.config.id) };
      } else if (a.type === "builtin") {
        const r = runBuiltin(a.builtin!, {
          runtime: this.runtime,
          user,
          messages: this.messages(),
        });
        body = { data: r };
      } else if (a.type === "firewall") {
        if (this.#dryRun || !this.sessions) {
          this.#logDryRun(action, sreq.env!);
          body = { dry: true };
          status = ReplyStatus.DryRun;
        } else {
          const r = await this.sessions.firewall(sreq);
          if (r.ok) body = { data: r.data };
          else {
            status = ReplyStatus.Denied;
            body = { reason: r.reason };
          }
        }
      } else if (a.type === "exec") {
        const env = sreq.env!;
        const renewed = this.#dryRun ? undefined : await this.sessions?.renew(sreq);
        if (renewed) {
          body = { data: { renewed: true, deadline: renewed.deadline } };
        } else if (this.#dryRun) {
          this.#logDryRun(action, env);
          body = { dry: true };
          status = ReplyStatus.DryRun;
        } else {
          const res = await this.limiter.run(() =>
            runExec({
              argv: a.command!,
              env,
              stdin: msg.payload,
              uid: action.runAs?.uid,
              gid: action.runAs?.gid,
              cwd: a.working_dir,
              timeoutMs: a.timeout,
              outputCap: a.output_cap,
              signal: this.#abort.signal,
            })
          );
          exitCode = res.exitCode;
          output = res.stdout;
          if (res.exitCode === 0 && !res.spawnError && !res.timedOut) {
            await this.sessions?.armAfterConstructor(sreq);
          }
          if (res.spawnError) {
            status = ReplyStatus.Error;
            body = { reason: "spawn_failed" };
            this.#log.error("action {action} could not start: {err}", {
              action: a.name,
              err: res.spawnError,
            });
          } else if (res.timedOut) {
            status = ReplyStatus.Error;
            body = { reason: "timeout", cut: res.truncated };
          } else {
            status = res.exitCode === 0 ? ReplyStatus.Ok : ReplyStatus.Error;
            body = { cut: res.truncated };
            if (res.exitCode !== 0 && res.stderr.length > 0) {
              body.err = new TextDecoder().decode(res.stderr.subarray(-200));
            }
          }
          this.#log.info(
            "finished action={action} user={user} exit={exit} ms={ms}",
            {
              action: a.name,
              user: user.config.name,
              exit: res.exitCode,
              ms: Math.round(res.durationMs),
              timedOut: res.timedOut,
              truncated: res.truncated,
              request: requestId,
            },
          );
        }
      } else {
        status = ReplyStatus.Error;
        body = { reason: `action_type_unavailable:${a.type}` };
      }
    } catch (err) {
      if (err instanceof QueueFullError) {
        this.count("queue_full");
        status = ReplyStatus.Busy;
        body = { reason: "busy" };
      } else {
        this.count("action_errors");
        status = ReplyStatus.Error;
        body = { reason: "internal_error" };
        this.#log.error("action {action} failed: {err}", { action: a.name, err: String(err) });
      }
    }
    if (a.reply || status !== ReplyStatus.Ok) {
      this.#sendReply(l, addr, requestSize, replier, msg, status, body, output, exitCode);
    }
  }

  #execEnv(
    l: Listener,
    addr: Deno.NetAddr,
    user: UserRuntime,
    action: ActionRuntime,
    requestId: string,
    payload: Uint8Array,
  ): Record<string, string> {
    return {
      SIGLATCH_USER: user.config.name,
      SIGLATCH_USER_ID: String(user.config.id),
      SIGLATCH_ACTION: action.config.name,
      SIGLATCH_ACTION_ID: String(action.config.id),
      SIGLATCH_SERVER: l.server,
      SIGLATCH_SOURCE_IP: addr.hostname,
      SIGLATCH_SOURCE_PORT: String(addr.port),
      SIGLATCH_REQUEST_ID: requestId,
      SIGLATCH_PAYLOAD_B64: encodeBase64(payload),
    };
  }

  #logDryRun(action: ActionRuntime, env: Record<string, string>): void {
    this.count("dry_run");
    this.#log.info("dry-run: would run {argv} as {runAs}", {
      decision: "dry_run",
      argv: action.config.command,
      runAs: action.runAs
        ? `${action.runAs.user}(${action.runAs.uid}:${action.runAs.gid})`
        : "self",
      env,
    });
  }

  #tryDeadDrop(server: ServerRuntime, l: Listener, data: Uint8Array, addr: Deno.NetAddr): boolean {
    const drop = server.deadDrops.find((d) =>
      d.prefix.length <= data.length && d.prefix.every((b, i) => data[i] === b)
    );
    if (!drop) return false;
    const action = this.runtime.actions.get(drop.handlerId);
    if (!action || action.config.type !== "exec" || !action.config.enabled) return false;
    this.count("deaddrop");
    this.#log.info("deaddrop={drop} src={ip} port={port} bytes={bytes}", {
      decision: "deaddrop",
      drop: drop.name,
      ip: addr.hostname,
      port: addr.port,
      bytes: data.length,
    });
    const env = {
      SIGLATCH_DEADDROP: drop.name,
      SIGLATCH_ACTION: action.config.name,
      SIGLATCH_SERVER: l.server,
      SIGLATCH_SOURCE_IP: addr.hostname,
      SIGLATCH_SOURCE_PORT: String(addr.port),
      SIGLATCH_PAYLOAD_B64: encodeBase64(data),
    };
    if (this.#dryRun) {
      this.#logDryRun(action, env);
      return true;
    }
    const job = this.limiter.run(() =>
      runExec({
        argv: action.config.command!,
        env,
        stdin: data,
        uid: action.runAs?.uid,
        gid: action.runAs?.gid,
        timeoutMs: action.config.timeout,
        outputCap: action.config.output_cap,
        signal: this.#abort.signal,
      })
    ).catch(() => this.count("queue_full"));
    this.#inflight.add(job);
    job.finally(() => this.#inflight.delete(job));
    return true;
  }

  /** Unexpired system messages (config + broadcasts). */
  messages(): SystemMessage[] {
    const now = this.#clock();
    const all: SystemMessage[] = [
      ...this.runtime.config.messages.map((m) => ({
        level: m.level,
        text: m.text,
        expires: m.expires,
      })),
      ...this.broadcasts,
    ];
    return all.filter((m) => m.expires === undefined || m.expires > now);
  }

  #sendReply(
    l: Listener,
    addr: Deno.NetAddr,
    requestSize: number,
    replier: ReplySealer,
    msg: OpenedRequest,
    status: number,
    body: ReplyBody,
    output?: Uint8Array,
    exitCode = 0,
  ): void {
    if (!this.#replyBuckets.take(addr.hostname, this.#clock())) {
      this.count("reply_rate_limited");
      return;
    }
    const msgs = this.messages();
    if (msgs.length > 0) body = { ...body, msgs };
    // No amplification: an unproven source never gets more bytes than it sent.
    const budget = Math.min(requestSize, MAX_REPLY_DATAGRAM);
    const encoded = encodeReplyBody(body, output, maxReplyBody(budget));
    const datagram = replier.seal({
      status,
      exitCode,
      serverTime: this.#clock(),
      requestId: msg.nonce,
      seq: 0,
      final: true,
      truncated: encoded.cut,
      body: encoded.bytes,
    });
    if (datagram.length > budget) {
      this.count("reply_too_large");
      return;
    }
    if (l.closed) return;
    l.conn.send(datagram, addr).then(
      () => this.count("replies"),
      () => this.count("reply_errors"),
    );
  }

  /** Stops receiving, lets running actions finish for `graceMs`, then kills the rest. */
  async stop(graceMs: number): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const l of [...this.#listeners.values()]) this.#closeListener(l);
    const deadline = Date.now() + graceMs;
    while (this.#inflight.size > 0 && Date.now() < deadline) {
      await Promise.race([
        Promise.allSettled([...this.#inflight]),
        new Promise((r) => setTimeout(r, Math.max(1, deadline - Date.now()))),
      ]);
    }
    if (this.#inflight.size > 0) {
      this.#log.warn("grace period over: killing {n} running actions", { n: this.#inflight.size });
      this.#abort.abort();
      await Promise.race([
        Promise.allSettled([...this.#inflight]),
        new Promise((r) => setTimeout(r, 3000)),
      ]);
    }
    await this.#nonces.flush();
    await this.defense.stop();
    await this.sessions?.stop();
    await this.store.close();
  }
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

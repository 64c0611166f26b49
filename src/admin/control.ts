/**
 * What the admin commands do to a running daemon: reload, status, runtime overrides
 * (with a persisted set re-applied after every reload), lists, bans, broadcasts, logs.
 * Transport-free: the control socket ({@linkcode ControlServer}) feeds it requests.
 * @module
 */
import type { LogRecord } from "@logtape/logtape";
import { parseDuration } from "../config/duration.ts";
import type { Config } from "../config/schema.ts";
import type { SystemMessage } from "../wire/reply_body.ts";
import { parseCidr, parseIp } from "../util/ip.ts";
import {
  helpText,
  LEVELS,
  LIST_WHATS,
  type LogEntry,
  OVERRIDE_KINDS,
  type OverrideKind,
  unknownCommand,
} from "./protocol.ts";

/** Features other parts of the daemon provide to the control socket (absent → not available). */
export interface ControlExtensions {
  /** Current bans. */
  listBans?(): Promise<unknown[]>;
  /** Bans `addr` (an address or CIDR) for `forMs` or permanently. */
  ban?(addr: string, opts: { forMs?: number; permanent?: boolean; reason?: string }): Promise<void>;
  /** Lifts a ban; false when there was none. */
  unban?(addr: string): Promise<boolean>;
  /** Current firewall grants. */
  listGrants?(): Promise<unknown[]>;
  /** Use counts of every user, or of `user`. */
  usage?(user?: string): Promise<unknown[]>;
  /** Sets `user`'s use counts to 0. */
  resetUsage?(user: string): Promise<void>;
  /** More commands by name (enrollment: `invite`, `users`, `approve`); errors reach the client. */
  commands?: Record<string, (args: Record<string, unknown>) => Promise<unknown>>;
  /** Revokes `user`'s grants (all, or `addr`'s) and fires its session destructors. */
  revoke?(user: string, addr?: string): Promise<{ grants: number; sessions: number }>;
  /** Runs every reload (socket, web, SIGHUP) inside it: systemd's RELOADING … READY. */
  aroundReload?<T>(reload: () => Promise<T>): Promise<T>;
}

/** Names disabled at runtime, per kind. */
export interface OverrideSets {
  /** Server names. */
  servers: Set<string>;
  /** Action names. */
  actions: Set<string>;
  /** User names. */
  users: Set<string>;
}

/** The outcome of a daemon reload (as {@linkcode ControlTarget.reload} returns it). */
export type TargetReloadReport =
  | { ok: true; version: number; changes: unknown }
  | { ok: false; errors: string[] };

/** What the control needs from the daemon (the `Daemon` class satisfies it). */
export interface ControlTarget {
  /** Reloads the config file. */
  reload(keepOverrides?: boolean): Promise<TargetReloadReport>;
  /** Counters. */
  readonly counters: Record<string, number>;
  /** Start time (epoch ms). */
  readonly started: number;
  /** Config version (1 + successful reloads). */
  readonly configVersion: number;
  /** The config file. */
  readonly configPath?: string;
  /** Addresses listened on. */
  listening(): string[];
  /** Listening sockets with the kernel's buffer size, queue and drops (when known). */
  listenerStatus?(): { address: string; kernel_drops?: number }[];
  /** The running config. */
  readonly runtime: { config: Config };
  /** Runtime overrides (cleared by a reload without `keep_overrides`). */
  readonly overrides: OverrideSwitches;
  /** Broadcast messages. */
  readonly notices: BroadcastBoard;
  /** Unexpired messages (config + broadcasts). */
  messages(): SystemMessage[];
  /** The action limiter. */
  readonly limiter: { readonly running: number; readonly waiting: number };
  /** Dry-run mode. */
  readonly dryRun: boolean;
  /** Lint warnings of the running config. */
  readonly warnings?: readonly string[];
  /** Settings changed since start that need a restart. */
  readonly restartRequired?: readonly string[];
  /** Extra status sections (e.g. the nftables reconciler). */
  statusExtras?(): Record<string, unknown>;
}

/** Runtime switches as the admin may change them. */
export interface OverrideSwitches {
  /** True when `name` is disabled in `section`. */
  has(section: keyof OverrideSets, name: string): boolean;
  /** Disables `name`. */
  disable(section: keyof OverrideSets, name: string): void;
  /** Enables `name`; true when it was disabled. */
  enable(section: keyof OverrideSets, name: string): boolean;
  /** Disabled names of `section`, sorted. */
  names(section: keyof OverrideSets): string[];
}

/** Broadcasts as the admin may change them. */
export interface BroadcastBoard {
  /** Unexpired broadcasts. */
  broadcasts(): SystemMessage[];
  /** Adds one. */
  broadcast(message: SystemMessage): void;
  /** Removes all; returns how many there were. */
  clearBroadcasts(): number;
}

/** Thrown by a handler: the message goes back to the client as `error`. */
export class CommandError extends Error {
  /** Creates an error reported to the admin client. */
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}

const SECTION: Record<OverrideKind, "servers" | "actions" | "users"> = {
  server: "servers",
  action: "actions",
  user: "users",
};

/** Most broadcasts held at once. */
export const MAX_BROADCASTS = 32;
/** Longest broadcast text. */
export const MAX_BROADCAST_TEXT = 500;

function jsonSafe(v: unknown, depth = 0): unknown {
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Error) return v.message;
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (depth > 4) return "…";
  if (Array.isArray(v)) return v.slice(0, 100).map((x) => jsonSafe(x, depth + 1));
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      out[k] = jsonSafe(x, depth + 1);
    }
    return out;
  }
  return v === undefined ? undefined : String(v);
}

/** Turns a logtape record into a JSON-safe {@linkcode LogEntry}. */
export function toLogEntry(record: LogRecord): LogEntry {
  let message = "";
  record.message.forEach((part, i) => {
    if (i % 2 === 0) message += String(part);
    else message += typeof part === "string" ? part : JSON.stringify(jsonSafe(part));
  });
  return {
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    category: record.category.join("."),
    message,
    properties: jsonSafe(record.properties) as Record<string, unknown>,
  };
}

/** A fixed-size ring of recent items. */
export class Ring<T> {
  readonly #items: T[] = [];
  readonly #size: number;
  /** Creates a ring holding at most `size` items. */
  constructor(size: number) {
    this.#size = size;
  }
  /** Adds an item, dropping the oldest when full. */
  push(item: T): void {
    this.#items.push(item);
    if (this.#items.length > this.#size) this.#items.shift();
  }
  /** The last `n` items, oldest first. */
  last(n: number): T[] {
    return n <= 0 ? [] : this.#items.slice(-n);
  }
}

/** Options of {@linkcode AdminControl}. */
export interface AdminControlOptions {
  /** Bans and grants, when this build has them. */
  extensions?: ControlExtensions;
  /** Clock (ms). */
  clock?: () => number;
  /** Records kept for `logs` (default 500). */
  logRing?: number;
  /** Decision records kept for `logs --decisions` (default 200). */
  decisionRing?: number;
}

/** A `logs --follow` subscriber. */
export type LogListener = (entry: LogEntry) => void;

/** Runs admin commands against a daemon. */
export class AdminControl {
  readonly #target: ControlTarget;
  readonly #ext: ControlExtensions;
  readonly #clock: () => number;
  /** Overrides kept across reloads. */
  readonly persisted: OverrideSets = { servers: new Set(), actions: new Set(), users: new Set() };
  readonly #recent: Ring<LogEntry>;
  readonly #decisions: Ring<LogEntry>;
  readonly #followers = new Set<LogListener>();

  /** Creates the control for `target`. */
  constructor(target: ControlTarget, opts: AdminControlOptions = {}) {
    this.#target = target;
    this.#ext = opts.extensions ?? {};
    this.#clock = opts.clock ?? Date.now;
    this.#recent = new Ring(opts.logRing ?? 500);
    this.#decisions = new Ring(opts.decisionRing ?? 200);
  }

  /** Feeds a log record (wire to `tapLogs`). */
  onLog(record: LogRecord): void {
    const entry = toLogEntry(record);
    this.#recent.push(entry);
    if (typeof record.properties.decision === "string") this.#decisions.push(entry);
    for (const f of this.#followers) {
      try {
        f(entry);
      } catch {
        // a broken follower must not break logging
      }
    }
  }

  /** Subscribes to new log entries; returns the unsubscribe function. */
  follow(listener: LogListener): () => void {
    this.#followers.add(listener);
    return () => this.#followers.delete(listener);
  }

  /** Recent entries (all, or decisions only), oldest first. */
  recentLogs(lines: number, decisions = false): LogEntry[] {
    return (decisions ? this.#decisions : this.#recent).last(lines);
  }

  /**
   * Reloads and re-applies the persisted overrides (use for SIGHUP too, so persisted
   * overrides survive every reload).
   */
  reload(keepOverrides = false): Promise<TargetReloadReport & { reapplied?: string[] }> {
    const around = this.#ext.aroundReload;
    return around ? around(() => this.#reload(keepOverrides)) : this.#reload(keepOverrides);
  }

  async #reload(keepOverrides: boolean): Promise<TargetReloadReport & { reapplied?: string[] }> {
    const report = await this.#target.reload(keepOverrides);
    if (!report.ok) return report;
    const reapplied: string[] = [];
    for (const kind of OVERRIDE_KINDS) {
      const section = SECTION[kind];
      for (const name of this.persisted[section]) {
        if (!this.#target.overrides.has(section, name)) reapplied.push(`${kind} ${name}`);
        this.#target.overrides.disable(section, name);
      }
    }
    return { ...report, reapplied };
  }

  /** Runs one command; throws {@linkcode CommandError} for a failure the client should see. */
  async run(cmd: string, args: Record<string, unknown>): Promise<unknown> {
    switch (cmd) {
      case "status":
        return this.status();
      case "reload": {
        const r = await this.reload(args.keep_overrides === true);
        if (!r.ok) {
          throw new CommandError(
            `reload refused, the running config stays:\n${r.errors.join("\n")}`,
          );
        }
        return r;
      }
      case "enable":
      case "disable":
        return this.#override(cmd, args);
      case "list":
        return await this.#list(args);
      case "ban":
        return await this.#ban(args);
      case "unban":
        return await this.#unban(args);
      case "revoke":
        return await this.#revoke(args);
      case "broadcast":
        return this.#broadcast(args);
      case "messages":
        return this.#target.messages();
      case "logs": {
        const lines = typeof args.lines === "number" ? Math.min(args.lines, 500) : 50;
        return this.recentLogs(lines, args.decisions === true);
      }
      case "usage": {
        const user = typeof args.user === "string" ? args.user : undefined;
        if (args.reset === true) {
          if (!this.#ext.resetUsage) throw new CommandError(notAvailable("usage --reset"));
          if (user === undefined) throw new CommandError("usage: --reset needs a user");
          await this.#ext.resetUsage(user);
          return { message: `usage of ${user} reset to 0` };
        }
        if (!this.#ext.usage) throw new CommandError(notAvailable("usage"));
        return jsonSafe(await this.#ext.usage(user)) as unknown[];
      }
      case "help":
        return helpText(typeof args.command === "string" ? args.command : undefined);
    }
    const more = Object.hasOwn(this.#ext.commands ?? {}, cmd)
      ? this.#ext.commands![cmd]
      : undefined;
    if (more) {
      try {
        return jsonSafe(await more(args));
      } catch (err) {
        throw new CommandError(err instanceof Error ? err.message : String(err));
      }
    }
    throw new CommandError(unknownCommand(cmd));
  }

  /** The `status` result. */
  status(): Record<string, unknown> {
    const t = this.#target;
    // Read the kernel's figures once: the drop total must agree with the sockets listed.
    const sockets = t.listenerStatus?.();
    const overrides: Record<string, string[]> = {};
    for (const section of ["servers", "actions", "users"] as const) {
      overrides[section] = t.overrides.names(section);
    }
    return {
      uptime_ms: this.#clock() - t.started,
      started: new Date(t.started).toISOString(),
      config_version: t.configVersion,
      config_path: t.configPath,
      listening: t.listening(),
      sockets: sockets ?? [],
      running: t.limiter.running,
      queued: t.limiter.waiting,
      dry_run: t.dryRun,
      overrides,
      warnings: t.warnings ?? [],
      restart_required: t.restartRequired ?? [],
      ...t.statusExtras?.(),
      persisted: Object.fromEntries(
        Object.entries(this.persisted).map(([k, v]) => [k, [...v].sort()]),
      ),
      counters: sockets
        ? { ...t.counters, kernel_drops: sockets.reduce((n, s) => n + (s.kernel_drops ?? 0), 0) }
        : { ...t.counters },
    };
  }

  #state(section: "servers" | "actions" | "users", name: string, enabled: boolean): string {
    if (!enabled) return "disabled (config)";
    if (this.#target.overrides.has(section, name)) {
      return this.persisted[section].has(name)
        ? "disabled (runtime, persisted)"
        : "disabled (runtime)";
    }
    return "enabled";
  }

  #override(cmd: "enable" | "disable", args: Record<string, unknown>): Record<string, unknown> {
    const kind = args.kind;
    const name = args.name;
    if (typeof kind !== "string" || !(OVERRIDE_KINDS as readonly string[]).includes(kind)) {
      throw new CommandError(`${cmd}: args.kind must be one of ${OVERRIDE_KINDS.join(", ")}`);
    }
    if (typeof name !== "string" || name === "") {
      throw new CommandError(`${cmd}: args.name must be a name`);
    }
    const section = SECTION[kind as OverrideKind];
    const items = this.#target.runtime.config[section] as { name: string; enabled: boolean }[];
    const item = items.find((x) => x.name === name);
    if (!item && !(cmd === "enable" && this.persisted[section].has(name))) {
      const known = items.map((x) => x.name);
      throw new CommandError(
        `no ${kind} named "${name}"` +
          (known.length ? ` (${section}: ${known.join(", ")})` : ` (no ${section} configured)`),
      );
    }
    const persist = args.persist === true;
    const switches = this.#target.overrides;
    if (cmd === "disable") {
      switches.disable(section, name);
      if (persist) this.persisted[section].add(name);
      return {
        kind,
        name,
        state: this.#state(section, name, item?.enabled ?? true),
        message: `${kind} ${name} disabled at runtime` +
          (persist ? " (persisted across reloads)" : " (until the next reload)"),
      };
    }
    const wasDisabled = switches.enable(section, name);
    const wasPersisted = this.persisted[section].delete(name);
    if (item && !item.enabled) {
      throw new CommandError(
        `${kind} ${name} is disabled in the config (enabled: false): edit the config and reload`,
      );
    }
    return {
      kind,
      name,
      state: "enabled",
      message: wasDisabled || wasPersisted
        ? `${kind} ${name} enabled` + (wasPersisted ? " (persisted disable removed)" : "")
        : `${kind} ${name} was not disabled`,
    };
  }

  async #list(args: Record<string, unknown>): Promise<unknown[]> {
    const what = args.what;
    const config = this.#target.runtime.config;
    switch (what) {
      case "actions":
        return config.actions.map((a) => ({
          id: a.id,
          name: a.name,
          type: a.type,
          state: this.#state("actions", a.name, a.enabled),
          description: a.description,
        }));
      case "users":
        return config.users.map((u) => ({
          id: u.id,
          name: u.name,
          actions: u.actions.map(String),
          state: this.#state("users", u.name, u.enabled),
        }));
      case "servers":
        return config.servers.map((s) => ({
          name: s.name,
          listen: s.listen.map((l) => `${l.family === 6 ? `[${l.host}]` : l.host}:${l.port}`),
          mode: s.mode,
          state: this.#state("servers", s.name, s.enabled),
        }));
      case "overrides": {
        const out: Record<string, unknown>[] = [];
        for (const kind of OVERRIDE_KINDS) {
          const section = SECTION[kind];
          const names = new Set([
            ...this.#target.overrides.names(section),
            ...this.persisted[section],
          ]);
          for (const name of [...names].sort()) {
            out.push({ kind, name, persisted: this.persisted[section].has(name) });
          }
        }
        return out;
      }
      case "grants":
        if (!this.#ext.listGrants) throw new CommandError(notAvailable("list grants"));
        return jsonSafe(await this.#ext.listGrants()) as unknown[];
      case "bans":
        if (!this.#ext.listBans) throw new CommandError(notAvailable("list bans"));
        return jsonSafe(await this.#ext.listBans()) as unknown[];
    }
    throw new CommandError(`list: args.what must be one of ${LIST_WHATS.join(", ")}`);
  }

  async #ban(args: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!this.#ext.ban) throw new CommandError(notAvailable("ban"));
    const addr = validAddr("ban", args.addr);
    let forMs: number | undefined;
    if (args.for !== undefined) {
      forMs = typeof args.for === "number" ? args.for : parseDuration(String(args.for));
      if (forMs === undefined || forMs <= 0) {
        throw new CommandError(`ban: --for ${args.for}: expected a duration such as 10m`);
      }
    }
    const permanent = args.permanent === true;
    const reason = typeof args.reason === "string" ? args.reason.slice(0, 200) : "admin";
    await this.#ext.ban(addr, { forMs, permanent, reason });
    return {
      addr,
      message: `banned ${addr}` +
        (permanent ? " permanently" : forMs ? ` for ${args.for}` : " (default ban time)"),
    };
  }

  async #unban(args: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!this.#ext.unban) throw new CommandError(notAvailable("unban"));
    const addr = validAddr("unban", args.addr);
    const removed = await this.#ext.unban(addr);
    return { addr, removed, message: removed ? `unbanned ${addr}` : `${addr} was not banned` };
  }

  async #revoke(args: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!this.#ext.revoke) throw new CommandError(notAvailable("revoke"));
    const user = args.user;
    if (typeof user !== "string" || user === "") {
      throw new CommandError("revoke: args.user must be a user name");
    }
    const addr = args.addr;
    if (addr !== undefined && (typeof addr !== "string" || !parseIp(addr))) {
      throw new CommandError(`revoke: "${addr}" is not an IP address`);
    }
    const r = await this.#ext.revoke(user, addr as string | undefined);
    return {
      user,
      addr,
      ...r,
      message: `revoked ${r.grants} grant(s) and ${r.sessions} session(s) of ${user}` +
        (addr ? ` for ${addr}` : ""),
    };
  }

  #broadcast(args: Record<string, unknown>): Record<string, unknown> {
    const board = this.#target.notices;
    const now = this.#clock();
    if (args.clear === true) {
      const n = board.clearBroadcasts();
      return { cleared: n, message: `cleared ${n} broadcast message(s)` };
    }
    const text = args.text;
    if (typeof text !== "string" || text.trim() === "") {
      throw new CommandError("broadcast: args.text must be a non-empty message");
    }
    if (text.length > MAX_BROADCAST_TEXT) {
      throw new CommandError(`broadcast: message longer than ${MAX_BROADCAST_TEXT} characters`);
    }
    const level = args.level ?? "notice";
    if (!(LEVELS as readonly unknown[]).includes(level)) {
      throw new CommandError(`broadcast: --level must be one of ${LEVELS.join(", ")}`);
    }
    let expires: number | undefined;
    if (args.ttl !== undefined) {
      const ms = typeof args.ttl === "number" ? args.ttl : parseDuration(String(args.ttl));
      if (ms === undefined || ms <= 0) {
        throw new CommandError(`broadcast: --ttl ${args.ttl}: expected a duration such as 10m`);
      }
      expires = now + ms;
    }
    if (board.broadcasts().length >= MAX_BROADCASTS) {
      throw new CommandError(
        `broadcast: ${MAX_BROADCASTS} messages already active; clear with broadcast --clear`,
      );
    }
    const msg: SystemMessage = { level: level as SystemMessage["level"], text, expires };
    board.broadcast(msg);
    return {
      ...msg,
      message: `broadcasting [${level}] ${text}` +
        (expires ? ` until ${new Date(expires).toISOString()}` : " until cleared or restart"),
    };
  }
}

function notAvailable(what: string): string {
  return `${what}: not available in this build`;
}

function validAddr(cmd: string, v: unknown): string {
  if (typeof v !== "string" || (!parseIp(v) && !parseCidr(v))) {
    throw new CommandError(`${cmd}: "${v}" is not an IP address or CIDR`);
  }
  return v;
}

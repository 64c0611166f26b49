/**
 * Reload: load and validate a new config completely off to the side, build its runtime,
 * and only then swap it in. A config with any error leaves the running one untouched.
 * @module
 */
import { formatFinding, loadConfig } from "../config/load.ts";
import { type Config, replayWindowMs } from "../config/schema.ts";
import { buildRuntime, type KeyMaterial, type Runtime } from "./runtime.ts";

/** What changed between two configs, by section and name. */
export interface ConfigChanges {
  /** Names added, per section. */
  added: Record<"servers" | "users" | "actions", string[]>;
  /** Names removed, per section. */
  removed: Record<"servers" | "users" | "actions", string[]>;
  /** Names whose settings changed, per section. */
  changed: Record<"servers" | "users" | "actions", string[]>;
  /**
   * Settings that changed but take effect only at the next start (field paths): the state
   * store, the admin socket, logging, the nftables backend, and the replay guard's size
   * (`limits.replay_cache_entries`) and window (the largest `clock_skew` of all servers;
   * reported as each server's `clock_skew` that changed it).
   */
  restart_required: string[];
}

/** Top-level sections a running daemon does not re-read. */
const RESTART_SECTIONS = ["state", "admin", "logging", "firewall", "decoys"] as const;

/** The outcome of a reload. */
export type ReloadResult =
  | { ok: true; runtime: Runtime; changes: ConfigChanges; warnings: string[] }
  | { ok: false; errors: string[] };

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val) => typeof val === "bigint" ? val.toString() : val);
}

/** Compares two configs section by section. */
export function diffConfigs(before: Config, after: Config): ConfigChanges {
  const out: ConfigChanges = {
    added: { servers: [], users: [], actions: [] },
    removed: { servers: [], users: [], actions: [] },
    changed: { servers: [], users: [], actions: [] },
    restart_required: [],
  };
  for (const section of RESTART_SECTIONS) {
    if (canonical(before[section]) !== canonical(after[section])) {
      out.restart_required.push(section);
    }
  }
  if (before.limits.replay_cache_entries !== after.limits.replay_cache_entries) {
    out.restart_required.push("limits.replay_cache_entries");
  }
  if (replayWindowMs(before) !== replayWindowMs(after)) {
    const skews = new Map(before.servers.map((s) => [s.name, s.limits.clock_skew]));
    const changed = after.servers.filter((s) => skews.get(s.name) !== s.limits.clock_skew);
    out.restart_required.push(
      ...(changed.length ? changed.map((s) => `servers.${s.name}.limits.clock_skew`) : [
        "servers.limits.clock_skew",
      ]),
    );
  }
  for (const section of ["servers", "users", "actions"] as const) {
    const a = new Map<string, unknown>(before[section].map((x) => [x.name, x]));
    const b = new Map<string, unknown>(after[section].map((x) => [x.name, x]));
    for (const [name, v] of b) {
      if (!a.has(name)) out.added[section].push(name);
      else if (canonical(a.get(name)) !== canonical(v)) out.changed[section].push(name);
    }
    for (const name of a.keys()) if (!b.has(name)) out.removed[section].push(name);
  }
  return out;
}

/** True when nothing changed. */
export function noChanges(c: ConfigChanges): boolean {
  return c.restart_required.length === 0 &&
    [c.added, c.removed, c.changed].every((r) => Object.values(r).every((l) => l.length === 0));
}

/**
 * Loads `path` and builds a runtime for it, or reports every error (`file:line:col: ...`).
 * `changes` compares with `current`, except `restart_required`, which compares with the
 * config the process `started` with: a pending restart stays pending across reloads.
 */
export async function prepareReload(
  path: string,
  current: Config,
  started: Config = current,
  keySource?: () => Promise<KeyMaterial>,
): Promise<ReloadResult> {
  const res = await loadConfig(path);
  if (!res.ok) {
    return {
      ok: false,
      errors: res.findings.filter((f) => f.severity === "error").map((f) =>
        `${f.file}:${f.line}:${f.col}: ${f.path}: ${f.message}`
      ),
    };
  }
  try {
    const runtime = await buildRuntime(res.config, Date.now, await keySource?.());
    const changes = diffConfigs(current, res.config);
    changes.restart_required = diffConfigs(started, res.config).restart_required;
    return { ok: true, runtime, changes, warnings: res.findings.map((f) => formatFinding(f)) };
  } catch (err) {
    return { ok: false, errors: [`${path}: ${err instanceof Error ? err.message : String(err)}`] };
  }
}

/**
 * Checks the schema cannot express: duplicate ids and names, references to unknown or
 * disabled actions/servers/handlers, overlapping listen addresses, validity windows,
 * insecure servers, commands run as root, and (optionally) the file system: key files and their modes,
 * executables, run_as users. Pure data checks need no I/O.
 *
 * @module
 */
import type { Finding } from "./findings.ts";
import type { SourceMap } from "./positions.ts";
import { lintFiles } from "./lint_files.ts";
import { type LintOptions, Reporter } from "./lint_reporter.ts";
import type { ActionConfig, Config } from "./schema.ts";
import { type Cidr, formatIp, parseIp } from "../util/ip.ts";
import { type RunAs, splitRunAs } from "../util/sysdb.ts";
import { checkStealth } from "./lint_stealth.ts";

/** Finds an action by reference: a number is an id, a string a name. */
export function findAction(
  config: Config,
  ref: string | number,
): { action: ActionConfig; index: number } | undefined {
  const index = config.actions.findIndex((a) => (typeof ref === "number" ? a.id : a.name) === ref);
  return index < 0 ? undefined : { action: config.actions[index], index };
}

function checkDuplicates<T>(
  r: Reporter,
  section: string,
  items: readonly T[],
  field: keyof T & string,
  what: string,
): void {
  const first = new Map<unknown, number>();
  items.forEach((item, i) => {
    const value = item[field];
    const prev = first.get(value);
    if (prev === undefined) first.set(value, i);
    else {
      r.error(
        [section, i, field],
        `duplicate ${what} ${JSON.stringify(value)}: already used by ${
          r.where([section, prev, field])
        }`,
        "duplicate",
      );
    }
  });
}

function checkReferences(r: Reporter, config: Config): void {
  const servers = new Map(config.servers.map((s) => [s.name, s]));
  const used = new Set<number>();
  config.users.forEach((u, i) => {
    if (u.actions.length === 0) {
      r.warn(["users", i], `user "${u.name}" has no actions: it can do nothing`, "user_no_actions");
    }
    u.actions.forEach((ref, k) => {
      const found = findAction(config, ref);
      if (!found) {
        r.error(["users", i, "actions", k], `unknown action ${JSON.stringify(ref)}`, "unknown_ref");
        return;
      }
      if (u.enabled) used.add(found.index);
      if (!found.action.enabled) {
        r.warn(
          ["users", i, "actions", k],
          `action "${found.action.name}" is disabled`,
          "disabled_ref",
        );
      }
    });
    u.servers?.forEach((name, k) => checkServerRef(r, servers, ["users", i, "servers", k], name));
  });
  for (const d of config.deaddrops) {
    const found = findAction(config, d.handler);
    if (found) used.add(found.index);
  }
  config.actions.forEach((a, i) => {
    if (a.enabled && !used.has(i)) {
      r.warn(
        ["actions", i, "name"],
        `no enabled user (or dead drop) may run action "${a.name}"`,
        "unused_action",
      );
    }
    if (a.destructor === "revoke" && a.type !== "firewall") {
      r.error(
        ["actions", i, "destructor"],
        `destructor "revoke" only undoes a firewall grant; this action is type ${a.type}`,
        "bad_destructor",
      );
    }
  });
  config.deaddrops.forEach((d, i) => {
    const found = findAction(config, d.handler);
    if (!found) {
      r.error(
        ["deaddrops", i, "handler"],
        `unknown action ${JSON.stringify(d.handler)}`,
        "unknown_ref",
      );
    } else if (found.action.type !== "exec") {
      r.error(
        ["deaddrops", i, "handler"],
        `a dead drop handler must be an exec action; "${found.action.name}" is ${found.action.type}`,
        "bad_handler",
      );
    } else if (!found.action.enabled) {
      r.warn(
        ["deaddrops", i, "handler"],
        `action "${found.action.name}" is disabled`,
        "disabled_ref",
      );
    }
    d.servers?.forEach((name, k) =>
      checkServerRef(r, servers, ["deaddrops", i, "servers", k], name)
    );
  });
  if (config.deaddrops.length > 0 && !config.servers.some((s) => s.deaddrops)) {
    r.warn(
      ["deaddrops"],
      "dead drops are configured but no server has deaddrops: true, so none will receive anything",
      "deaddrops_unreachable",
    );
  }
}

function checkServerRef(
  r: Reporter,
  servers: Map<string, { enabled: boolean }>,
  path: PropertyKey[],
  name: string,
): void {
  const s = servers.get(name);
  if (!s) r.error(path, `unknown server "${name}"`, "unknown_ref");
  else if (!s.enabled) r.warn(path, `server "${name}" is disabled`, "disabled_ref");
}

function checkListen(r: Reporter, config: Config): void {
  const seen = new Map<string, PropertyKey[]>();
  const byPort = new Map<
    number,
    { host: string; wildcard: boolean; family: 4 | 6; path: PropertyKey[] }[]
  >();
  config.servers.forEach((s, i) => {
    if (!s.enabled) return;
    s.listen.forEach((l, k) => {
      const path = ["servers", i, "listen", l.entry ?? k];
      const ip = parseIp(l.host)!;
      const host = formatIp(ip);
      const key = `${ip.family === 6 ? `[${host}]` : host}:${l.port}`;
      const prev = seen.get(key);
      if (prev) {
        r.error(
          path,
          `${key} is already listened on by ${r.where(prev)}`,
          "listen_conflict",
        );
        return;
      }
      seen.set(key, path);
      const entries = byPort.get(l.port) ?? [];
      const wildcard = ip.value === 0n;
      for (const e of entries) {
        if (e.family === ip.family && e.wildcard !== wildcard) {
          r.warn(
            path,
            `${key} overlaps ${e.wildcard ? "the wildcard " : ""}${r.where(e.path)}: ` +
              "binding both may fail",
            "listen_overlap",
          );
        }
      }
      entries.push({ host, wildcard, family: ip.family, path });
      byPort.set(l.port, entries);
    });
  });
}

/** Warns about CIDRs written with host bits set: `10.1.2.3/8` means `10.0.0.0/8`. */
function checkCidrHostBits(r: Reporter, config: Config): void {
  type Entry = [PropertyKey[], readonly Cidr[] | undefined];
  const lists: Entry[] = [
    ...config.servers.map((s, i): Entry => [["servers", i, "allow_cidrs"], s.allow_cidrs]),
    ...config.users.map((u, i): Entry => [["users", i, "allow_cidrs"], u.allow_cidrs]),
    ...config.actions.map((a, i): Entry => [["actions", i, "allow_cidrs"], a.allow_cidrs]),
    [["rate_limit", "allow"], config.rate_limit.allow],
    [["rate_limit", "deny"], config.rate_limit.deny],
  ];
  for (const [path, list] of lists) {
    list?.forEach((cidr, k) => {
      if (cidr.hostBitsFrom === undefined) return;
      r.warn(
        [...path, k],
        `"${cidr.hostBitsFrom}" has host bits set: it means ${cidr.text}; write "${cidr.text}"` +
          ` (or /${cidr.family === 4 ? 32 : 128} for the one address)`,
        "cidr_host_bits",
      );
    });
  }
}

/** Is this `run_as` the superuser (by name or uid 0)? Pure: looks at the text only. */
export function namesRoot(runAs: RunAs): boolean {
  const { user } = splitRunAs(runAs);
  return user === "root" || /^0+$/.test(user);
}

/** Warns about every command that runs as root: only an explicit `run_as: root` does. */
function checkRunAsRoot(r: Reporter, config: Config): void {
  const dflt = config.execution.default_run_as;
  if (dflt !== undefined && namesRoot(dflt)) {
    r.warn(
      ["execution", "default_run_as"],
      "every exec action without its own run_as runs as root: a flaw in any of their " +
        "commands gives the sender the machine; name an unprivileged user",
      "run_as_root",
    );
  }
  config.actions.forEach((a, i) => {
    if (a.run_as === undefined || !namesRoot(a.run_as)) return;
    r.warn(
      ["actions", i, "run_as"],
      `action "${a.name}" runs as root: a flaw in its command gives the sender the machine`,
      "run_as_root",
    );
  });
  config.deaddrops.forEach((d, i) => {
    if (d.run_as === undefined || !namesRoot(d.run_as)) return;
    r.warn(
      ["deaddrops", i, "run_as"],
      `dead drop "${d.name}" runs its handler as root for datagrams no key proves`,
      "run_as_root",
    );
  });
}

function checkUsersAndServers(r: Reporter, config: Config, now: number): void {
  config.users.forEach((u, i) => {
    if (u.not_before !== undefined && u.not_after !== undefined && u.not_after <= u.not_before) {
      r.error(["users", i, "not_after"], "not_after must be later than not_before", "bad_window");
    } else if (u.not_after !== undefined && u.not_after < now && u.enabled) {
      r.warn(["users", i, "not_after"], `user "${u.name}" has expired`, "expired");
    }
  });
  config.servers.forEach((s, i) => {
    if (s.enabled && s.mode === "insecure") {
      r.warn(
        ["servers", i, "mode"],
        "insecure: packets are readable (use for onboarding only)",
        "insecure",
      );
    }
  });
}

/**
 * Lints a validated config. `files` names the files (main first) for findings without
 * positions. Errors make the config ambiguous or unusable; warnings are advice.
 */
export function lintConfig(
  config: Config,
  files: readonly string[],
  opts: LintOptions = {},
): Finding[] {
  const r = new Reporter(files, opts.sources);
  checkDuplicates(r, "servers", config.servers, "name", "server name");
  checkDuplicates(r, "users", config.users, "id", "user id");
  checkDuplicates(r, "users", config.users, "name", "user name");
  checkDuplicates(r, "actions", config.actions, "id", "action id");
  checkDuplicates(r, "actions", config.actions, "name", "action name");
  checkDuplicates(r, "deaddrops", config.deaddrops, "name", "dead drop name");
  checkReferences(r, config);
  checkListen(r, config);
  checkStealth(r, config);
  checkUsersAndServers(r, config, opts.now ?? Date.now());
  checkCidrHostBits(r, config);
  checkRunAsRoot(r, config);
  if (opts.checkFiles) lintFiles(r, config, opts);
  return r.findings;
}

/** What {@linkcode lintWarnings} needs: the `ok` result of `loadConfig` fits. */
export interface LoadedConfig {
  /** The validated config. */
  config: Config;
  /** Files read, the main file first. */
  files: readonly string[];
  /** Positions, so each warning names its file:line:col. */
  sources?: SourceMap;
}

/**
 * The lint warnings of a loaded config (unused actions, users without actions, host bits
 * set in a CIDR, …), each at its file:line:col: what the daemon logs at start and on
 * every reload. Pure data checks only (no file system), so it is cheap to call.
 */
export function lintWarnings(loaded: LoadedConfig, now?: number): Finding[] {
  return lintConfig(loaded.config, loaded.files, { sources: loaded.sources, now })
    .filter((f) => f.severity === "warning");
}

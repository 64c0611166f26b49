/**
 * The admin control protocol: JSON lines over a Unix socket (see docs/ADMIN.md).
 *
 * A request is one line `{"id":1,"cmd":"status","args":{}}`; the answer is one line
 * `{"id":1,"ok":true,"result":...}` or `{"id":1,"ok":false,"error":"..."}`. `logs` with
 * `follow: true` answers `ok` and then streams `{"id":1,"event":{...}}` lines until the
 * client closes the connection.
 *
 * This module holds the command table shared by the server, the one-shot CLI and the
 * interactive shell: how words (`disable action deploy --persist`) become a request, and
 * how a result is printed for a person.
 * @module
 */
import { formatDuration } from "../config/duration.ts";
import { parseEnrollCommand } from "../enroll/commands.ts";
import { parseRotateCommand } from "../rotation/commands.ts";

/** A request line. */
export interface AdminRequest {
  /** Echoed in the response (number or string). */
  id: number | string;
  /** Command name. */
  cmd: string;
  /** Command arguments (per command, see {@linkcode COMMANDS}). */
  args?: Record<string, unknown>;
}

/** A response line. */
export type AdminResponse =
  | { id: number | string | null; ok: true; result: unknown }
  | { id: number | string | null; ok: false; error: string };

/** A streamed event line (`logs --follow`). */
export interface AdminEvent {
  /** The id of the request that started the stream. */
  id: number | string;
  /** The event (a log record, see {@linkcode LogEntry}). */
  event: LogEntry;
}

/** A log record as the control socket sends it. */
export interface LogEntry {
  /** ISO 8601 time. */
  time: string;
  /** logtape level. */
  level: string;
  /** Dotted category (`siglatch.daemon`). */
  category: string;
  /** Rendered message. */
  message: string;
  /** Structured properties (JSON-safe). */
  properties: Record<string, unknown>;
}

/** Kinds of things that can be enabled/disabled at runtime. */
export const OVERRIDE_KINDS = ["server", "action", "user"] as const;
/** One of {@linkcode OVERRIDE_KINDS}. */
export type OverrideKind = typeof OVERRIDE_KINDS[number];
/** What `list` can list. */
export const LIST_WHATS = ["actions", "users", "servers", "grants", "bans", "overrides"] as const;
/** Broadcast levels. */
export const LEVELS = ["notice", "warning"] as const;

/** Describes one command for help and completion. */
export interface CommandSpec {
  /** Name. */
  name: string;
  /** Usage line (after the name). */
  usage: string;
  /** One-line summary. */
  summary: string;
  /** Flags it accepts (for completion). */
  flags: string[];
  /** Fixed words allowed as the first argument (for completion). */
  first?: readonly string[];
  /** Completion source for the argument after `first` (`names` of that kind). */
  nameAfterFirst?: boolean;
  /** Values for flags that take one. */
  flagValues?: Record<string, readonly string[]>;
}

/** Every command the control socket understands. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "status",
    usage: "",
    summary: "uptime, config version, counters, listeners, running/queued actions, dry run",
    flags: [],
  },
  {
    name: "reload",
    usage: "[--keep-overrides]",
    summary: "reload the config file (runtime overrides are reset unless kept or persisted)",
    flags: ["--keep-overrides"],
  },
  {
    name: "enable",
    usage: "server|action|user NAME [--persist]",
    summary: "clear a runtime disable (--persist: also forget it across reloads)",
    flags: ["--persist"],
    first: OVERRIDE_KINDS,
    nameAfterFirst: true,
  },
  {
    name: "disable",
    usage: "server|action|user NAME [--persist]",
    summary: "disable at runtime until the next reload (--persist: keep it across reloads)",
    flags: ["--persist"],
    first: OVERRIDE_KINDS,
    nameAfterFirst: true,
  },
  {
    name: "list",
    usage: "actions|users|servers|grants|bans|overrides",
    summary: "list configured items with their runtime state, or grants/bans/overrides",
    flags: [],
    first: LIST_WHATS,
  },
  {
    name: "ban",
    usage: "ADDR [--for DURATION] [--permanent] [--reason TEXT]",
    summary: "ban a source address (or prefix)",
    flags: ["--for", "--permanent", "--reason"],
  },
  { name: "unban", usage: "ADDR", summary: "lift a ban", flags: [] },
  {
    name: "revoke",
    usage: "USER [ADDR]",
    summary: "close a user's firewall grants (all, or ADDR's) and run its session destructors now",
    flags: [],
  },
  {
    name: "broadcast",
    usage: "MESSAGE [--level notice|warning] [--ttl DURATION] | --clear",
    summary: "attach a message to every reply (and the messages action) until it expires",
    flags: ["--level", "--ttl", "--clear"],
    flagValues: { "--level": LEVELS },
  },
  { name: "messages", usage: "", summary: "list current system messages", flags: [] },
  {
    name: "logs",
    usage: "[--follow] [--lines N] [--decisions]",
    summary: "recent log records (--decisions: accept/reject/dry-run only); --follow streams",
    flags: ["--follow", "--lines", "--decisions"],
  },
  {
    name: "usage",
    usage: "[USER] [--reset]",
    summary: "requests each user ran (ever, today) against its limits; --reset sets USER's to 0",
    flags: ["--reset"],
  },
  {
    name: "invite",
    usage: "[create] --name NAME [--actions A,B] [--expires DURATION] [--uses N] [--approve] " +
      "[--host HOST] [--server NAME]",
    summary: "make a one-time invite for `siglatch enroll` (docs/KEYS.md)",
    flags: ["--name", "--actions", "--expires", "--uses", "--approve", "--host", "--server"],
  },
  {
    name: "users",
    usage: "list | show NAME | revoke NAME | extend NAME --for DURATION",
    summary: "enrolled users and open invites (kept in the state store, not the config)",
    flags: ["--for"],
    first: ["list", "show", "revoke", "extend"],
  },
  { name: "approve", usage: "ID", summary: "let a pending enrollment complete", flags: [] },
  {
    name: "rotate",
    usage: "server [NAME] | user NAME",
    summary: "new server or user key now; the old one is accepted for keys.rotation_grace",
    flags: [],
    first: ["server", "user"],
  },
  {
    name: "nodes",
    usage: "",
    summary: "the cluster's daemons (heartbeats in the state store; this one marked *)",
    flags: [],
  },
  { name: "help", usage: "[COMMAND]", summary: "list commands, or show one command", flags: [] },
];

/** Command names. */
export const COMMAND_NAMES: string[] = COMMANDS.map((c) => c.name);

/** The spec of `name`, if it is a command. */
export function commandSpec(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The error for an unknown command, listing the known ones. */
export function unknownCommand(name: string): string {
  return `unknown command "${name}": commands are ${COMMAND_NAMES.join(", ")}`;
}

/** Help text: every command, or one. */
export function helpText(name?: string): string {
  if (name !== undefined) {
    const c = commandSpec(name);
    if (!c) return unknownCommand(name);
    return `${c.name}${c.usage ? ` ${c.usage}` : ""}\n  ${c.summary}`;
  }
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.usage}`.length));
  return COMMANDS.map((c) => `  ${`${c.name} ${c.usage}`.padEnd(width)}  ${c.summary}`).join("\n");
}

/** Splits a command line into words: whitespace separates, quotes ('…', "…") and `\` group. */
export function splitWords(line: string): { words: string[]; error?: string } {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === "\\" && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) return { words, error: `unterminated ${quote} quote` };
  if (inWord) words.push(cur);
  return { words };
}

/** A command parsed from words, or why it could not be. */
export type ParsedCommand = { ok: true; cmd: string; args: Record<string, unknown> } | {
  ok: false;
  error: string;
};

/** Flag parsing for one command: boolean flags and flags with a value. */
function parseFlags(
  cmd: string,
  words: string[],
  bools: string[],
  withValue: string[],
): { positional: string[]; flags: Record<string, string | true> } | string {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === "--") {
      positional.push(...words.slice(i + 1));
      break;
    }
    if (!w.startsWith("--") || w.length === 2) {
      positional.push(w);
      continue;
    }
    const eq = w.indexOf("=");
    const name = eq > 0 ? w.slice(0, eq) : w;
    if (bools.includes(name)) {
      if (eq > 0) return `${cmd}: ${name} takes no value`;
      flags[name] = true;
    } else if (withValue.includes(name)) {
      const value = eq > 0 ? w.slice(eq + 1) : words[++i];
      if (value === undefined) return `${cmd}: ${name} needs a value`;
      flags[name] = value;
    } else {
      const known = [...bools, ...withValue];
      return `${cmd}: unknown option ${name}` +
        (known.length ? ` (options: ${known.join(", ")})` : " (it takes no options)");
    }
  }
  return { positional, flags };
}

function exactly(cmd: string, positional: string[], n: number, usage: string): string | undefined {
  if (positional.length === n) return undefined;
  return `${cmd}: expected ${usage || "no arguments"}` +
    (positional.length > n ? ` (unexpected "${positional[n]}")` : "");
}

/** Turns words (`["disable", "action", "deploy", "--persist"]`) into a request's cmd and args. */
export function parseCommand(words: string[]): ParsedCommand {
  if (words.length === 0) return { ok: false, error: "empty command" };
  const [cmd, ...rest] = words;
  const spec = commandSpec(cmd);
  if (!spec) return { ok: false, error: unknownCommand(cmd) };
  const fail = (error: string): ParsedCommand => ({ ok: false, error });
  const usage = `${spec.usage}`;
  switch (cmd) {
    case "status":
    case "messages": {
      const p = parseFlags(cmd, rest, [], []);
      if (typeof p === "string") return fail(p);
      const e = exactly(cmd, p.positional, 0, "");
      return e ? fail(e) : { ok: true, cmd, args: {} };
    }
    case "reload": {
      const p = parseFlags(cmd, rest, ["--keep-overrides", "--persist"], []);
      if (typeof p === "string") return fail(p);
      const e = exactly(cmd, p.positional, 0, "");
      if (e) return fail(e);
      const keep = p.flags["--keep-overrides"] === true || p.flags["--persist"] === true;
      return { ok: true, cmd, args: keep ? { keep_overrides: true } : {} };
    }
    case "enable":
    case "disable": {
      const p = parseFlags(cmd, rest, ["--persist"], []);
      if (typeof p === "string") return fail(p);
      const e = exactly(cmd, p.positional, 2, usage);
      if (e) return fail(e);
      const [kind, name] = p.positional;
      if (!(OVERRIDE_KINDS as readonly string[]).includes(kind)) {
        return fail(`${cmd}: "${kind}" is not one of ${OVERRIDE_KINDS.join(", ")}`);
      }
      return {
        ok: true,
        cmd,
        args: { kind, name, ...(p.flags["--persist"] ? { persist: true } : {}) },
      };
    }
    case "list": {
      const p = parseFlags(cmd, rest, [], []);
      if (typeof p === "string") return fail(p);
      const e = exactly(cmd, p.positional, 1, usage);
      if (e) return fail(e);
      const what = p.positional[0];
      if (!(LIST_WHATS as readonly string[]).includes(what)) {
        return fail(`list: "${what}" is not one of ${LIST_WHATS.join(", ")}`);
      }
      return { ok: true, cmd, args: { what } };
    }
    case "ban": {
      const p = parseFlags(cmd, rest, ["--permanent"], ["--for", "--reason"]);
      if (typeof p === "string") return fail(p);
      const e = exactly(cmd, p.positional, 1, usage);
      if (e) return fail(e);
      const args: Record<string, unknown> = { addr: p.positional[0] };
      if (p.flags["--for"] !== undefined) args.for = p.flags["--for"];
      if (p.flags["--permanent"]) args.permanent = true;
      if (p.flags["--reason"] !== undefined) args.reason = p.flags["--reason"];
      if (args.for !== undefined && args.permanent) {
        return fail("ban: give --for or --permanent, not both");
      }
      return { ok: true, cmd, args };
    }
    case "unban": {
      const p = parseFlags(cmd, rest, [], []);
      if (typeof p === "string") return fail(p);
      const e = exactly(cmd, p.positional, 1, usage);
      return e ? fail(e) : { ok: true, cmd, args: { addr: p.positional[0] } };
    }
    case "revoke": {
      const p = parseFlags(cmd, rest, [], []);
      if (typeof p === "string") return fail(p);
      if (p.positional.length < 1 || p.positional.length > 2) {
        return fail(`revoke: expected ${usage}`);
      }
      const args: Record<string, unknown> = { user: p.positional[0] };
      if (p.positional[1] !== undefined) args.addr = p.positional[1];
      return { ok: true, cmd, args };
    }
    case "broadcast": {
      const p = parseFlags(cmd, rest, ["--clear"], ["--level", "--ttl"]);
      if (typeof p === "string") return fail(p);
      if (p.flags["--clear"]) {
        if (p.positional.length > 0) return fail("broadcast: --clear takes no message");
        return { ok: true, cmd, args: { clear: true } };
      }
      if (p.positional.length === 0) return fail(`broadcast: expected ${usage}`);
      const args: Record<string, unknown> = { text: p.positional.join(" ") };
      if (p.flags["--level"] !== undefined) args.level = p.flags["--level"];
      if (p.flags["--ttl"] !== undefined) args.ttl = p.flags["--ttl"];
      return { ok: true, cmd, args };
    }
    case "logs": {
      const p = parseFlags(cmd, rest, ["--follow", "--decisions"], ["--lines"]);
      if (typeof p === "string") return fail(p);
      const e = exactly(cmd, p.positional, 0, "");
      if (e) return fail(e);
      const args: Record<string, unknown> = {};
      if (p.flags["--follow"]) args.follow = true;
      if (p.flags["--decisions"]) args.decisions = true;
      if (p.flags["--lines"] !== undefined) {
        const n = Number(p.flags["--lines"]);
        if (!Number.isInteger(n) || n < 0) return fail("logs: --lines expects a whole number");
        args.lines = n;
      }
      return { ok: true, cmd, args };
    }
    case "usage": {
      const p = parseFlags(cmd, rest, ["--reset"], []);
      if (typeof p === "string") return fail(p);
      if (p.positional.length > 1) return fail(`usage: expected ${usage}`);
      if (p.flags["--reset"] && p.positional.length === 0) return fail("usage: --reset needs USER");
      const args: Record<string, unknown> = {};
      if (p.positional.length) args.user = p.positional[0];
      if (p.flags["--reset"]) args.reset = true;
      return { ok: true, cmd, args };
    }
    case "invite":
    case "users":
    case "approve":
      return parseEnrollCommand(cmd, rest);
    case "rotate":
      return parseRotateCommand(rest);
    case "nodes":
      if (rest.length > 0) return fail("nodes: expected no arguments");
      return { ok: true, cmd, args: {} };
    case "help": {
      if (rest.length > 1) return fail("help: expected [COMMAND]");
      return { ok: true, cmd, args: rest.length ? { command: rest[0] } : {} };
    }
  }
  return fail(unknownCommand(cmd));
}

/** Renders a log entry as one line of text. */
export function formatLogEntry(e: LogEntry): string {
  return `${e.time} ${e.level.toUpperCase().padEnd(7)} ${e.category}: ${e.message}`;
}

function table(rows: string[][]): string {
  if (rows.length === 0) return "";
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i])).join("  "))
    .join("\n");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

function formatChanges(changes: unknown): string {
  if (!isRecord(changes)) return "";
  const parts: string[] = [];
  for (const kind of ["added", "removed", "changed"]) {
    const sec = changes[kind];
    if (!isRecord(sec)) continue;
    for (const [section, names] of Object.entries(sec)) {
      if (Array.isArray(names) && names.length > 0) {
        parts.push(`${kind} ${section}: ${names.join(", ")}`);
      }
    }
  }
  if (Array.isArray(changes.restart_required) && changes.restart_required.length > 0) {
    parts.push(`needs a restart to take effect: ${changes.restart_required.join(", ")}`);
  }
  return parts.length ? parts.join("\n") : "no changes";
}

function formatNodes(rows: unknown[]): string {
  const recs = rows.filter(isRecord);
  if (recs.length === 0) return "(no nodes)";
  return table([
    ["", "NODE", "PID", "VERSION", "CONFIG", "SEEN", "LISTENING"],
    ...recs.map((r) => [
      r.self === true ? "*" : "",
      str(r.node),
      str(r.pid),
      str(r.version),
      str(r.config_version),
      `${str(r.age_s)}s ago`,
      Array.isArray(r.listening) ? r.listening.map(str).join(",") : "",
    ]),
  ]);
}

function formatList(what: string, rows: unknown[]): string {
  if (rows.length === 0) return `(no ${what})`;
  if (!rows.every(isRecord)) return rows.map(str).join("\n");
  const recs = rows as Record<string, unknown>[];
  if (what === "actions" || what === "users" || what === "servers") {
    const head = what === "servers"
      ? ["NAME", "LISTEN", "MODE", "STATE"]
      : what === "actions"
      ? ["ID", "NAME", "TYPE", "STATE"]
      : ["ID", "NAME", "ACTIONS", "STATE"];
    const body = recs.map((r) =>
      what === "servers"
        ? [str(r.name), (r.listen as string[] ?? []).join(","), str(r.mode), str(r.state)]
        : what === "actions"
        ? [str(r.id), str(r.name), str(r.type), str(r.state)]
        : [str(r.id), str(r.name), (r.actions as string[] ?? []).join(","), str(r.state)]
    );
    return table([head, ...body]);
  }
  const keys = [...new Set(recs.flatMap((r) => Object.keys(r)))];
  return table([keys.map((k) => k.toUpperCase()), ...recs.map((r) => keys.map((k) => str(r[k])))]);
}

/** Formats a successful result of `cmd` for a person. */
export function formatResult(cmd: string, args: Record<string, unknown>, result: unknown): string {
  const r = isRecord(result) ? result : {};
  switch (cmd) {
    case "status": {
      const counters = isRecord(r.counters) ? r.counters : {};
      const lines = [
        `uptime          ${formatDuration(Number(r.uptime_ms ?? 0))}`,
        `config version  ${str(r.config_version)}${r.config_path ? ` (${r.config_path})` : ""}`,
        `listening       ${(r.listening as string[] ?? []).join(", ") || "(nothing)"}`,
        `actions         ${str(r.running)} running, ${str(r.queued)} queued`,
        `dry run         ${r.dry_run ? "yes: no action runs" : "no"}`,
      ];
      if (typeof r.x25519_total === "number") {
        lines.push(`x25519          ${r.x25519_total} (${str(r.x25519_workers)} in open workers)`);
      }
      const ov = isRecord(r.overrides) ? r.overrides : {};
      const disabled = Object.entries(ov).flatMap(([k, v]) =>
        Array.isArray(v) ? v.map((n) => `${k.replace(/s$/, "")} ${n}`) : []
      );
      lines.push(`disabled        ${disabled.length ? disabled.join(", ") : "(none at runtime)"}`);
      for (const sock of Array.isArray(r.sockets) ? r.sockets.filter(isRecord) : []) {
        lines.push(
          `socket          ${str(sock.address)}: ` +
            (typeof sock.receive_buffer_bytes === "number"
              ? `buffer ${sock.receive_buffer_bytes} B, queued ${str(sock.queued_bytes)} B, ` +
                `kernel drops ${str(sock.kernel_drops)}`
              : `no kernel figures (${str(sock.socket_info_unavailable)})`),
        );
      }
      const restart = Array.isArray(r.restart_required) ? r.restart_required.map(str) : [];
      if (restart.length) lines.push(`needs restart   ${restart.join(", ")}`);
      const warnings = Array.isArray(r.warnings) ? r.warnings.map(str) : [];
      for (const w of warnings) lines.push(`warning         ${w}`);
      const names = Object.keys(counters).sort();
      if (names.length) {
        lines.push("counters");
        for (const n of names) lines.push(`  ${n.padEnd(24)} ${counters[n]}`);
      }
      return lines.join("\n");
    }
    case "reload":
      return `reloaded: config version ${str(r.version)}\n${formatChanges(r.changes)}` +
        (Array.isArray(r.reapplied) && r.reapplied.length
          ? `\nre-applied persisted overrides: ${r.reapplied.join(", ")}`
          : "");
    case "enable":
    case "disable":
      return str(r.message);
    case "list":
      return formatList(str(args.what), Array.isArray(result) ? result : []);
    case "ban":
    case "unban":
    case "revoke":
    case "broadcast":
      return str(r.message);
    case "messages": {
      const list = Array.isArray(result) ? result : [];
      if (list.length === 0) return "(no messages)";
      return list.map((m) => {
        const rec = isRecord(m) ? m : {};
        const exp = typeof rec.expires === "number"
          ? ` (expires in ${formatDuration(rec.expires - Date.now())})`
          : "";
        return `[${str(rec.level)}] ${str(rec.text)}${exp}`;
      }).join("\n");
    }
    case "logs": {
      const list = Array.isArray(result) ? result : [];
      return list.map((e) => formatLogEntry(e as LogEntry)).join("\n");
    }
    case "invite":
    case "approve":
    case "rotate":
      return str(r.message);
    case "users":
      if (!Array.isArray(result)) {
        return isRecord(result) && result.message
          ? str(r.message)
          : JSON.stringify(result, null, 2);
      }
      return formatList("enrolled users", result);
    case "usage":
      if (args.reset) return str(r.message);
      return formatList("usage", Array.isArray(result) ? result : []);
    case "nodes":
      return formatNodes(Array.isArray(result) ? result : []);
    case "help":
      return str(result);
  }
  return typeof result === "string" ? result : JSON.stringify(result, null, 2);
}

/**
 * `siglatch simulate CONFIG CASES.yaml`: replays described requests against a config
 * offline, with the daemon's own policy code, and prints each decision. A case with
 * `expect:` that does not match makes the exit status 1, so a config change can be gated
 * in CI before it is deployed.
 *
 * @example
 * ```yaml
 * - { user: alice, action: ping, source: 10.0.0.5, expect: allow }
 * - { user: alice, action: deploy, source: 203.0.113.9, expect: "refuse: action_cidr" }
 * - { user: bob, action: ssh, source: 10.0.0.7, time: "2030-01-01T00:00:00Z", expect: refuse }
 * ```
 * @module
 */
import type { Command } from "commander";
import { isMap, isSeq, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { CliError, UsageError } from "./errors.ts";
import { loadConfigOrFail } from "./serve.ts";
import { buildRuntime, type Runtime } from "../daemon/runtime.ts";
import { decidePolicy } from "../daemon/policy.ts";
import { anyCidrContains, parseIp } from "../util/ip.ts";

/** One described request. */
export const CaseSchema = z.strictObject({
  name: z.string().optional(),
  user: z.union([z.string().min(1), z.number().int().positive()]),
  action: z.union([z.string().min(1), z.number().int().positive()]),
  source: z.string().refine((s) => parseIp(s) !== undefined, "expected an IP address"),
  server: z.string().optional(),
  time: z.union([z.string(), z.number(), z.date()]).optional()
    .refine(
      (t) => t === undefined || Number.isFinite(toTime(t)),
      "expected an ISO 8601 time or epoch milliseconds",
    ),
  payload: z.string().optional(),
  expect: z.string().regex(
    /^(allow|refuse(:\s*[a-z_]+)?|[a-z_]+)$/,
    'expected "allow", "refuse", "refuse: REASON" or a refusal reason',
  ).optional(),
});

/** A case as written. */
export type SimCase = z.output<typeof CaseSchema>;

/** The decision for one case. */
export interface SimOutcome {
  /** 1-based case number. */
  index: number;
  /** The case's name, if given. */
  name?: string;
  /** User as written. */
  user: string | number;
  /** Action as written. */
  action: string | number;
  /** Source address. */
  source: string;
  /** Server the request is taken to arrive on. */
  server: string;
  /** `allow` or `refuse`. */
  decision: "allow" | "refuse";
  /** Why it was refused. */
  reason?: string;
  /** The expectation, if given. */
  expect?: string;
  /** Whether the expectation matched (absent without one). */
  matched?: boolean;
}

function toTime(t: string | number | Date): number {
  if (t instanceof Date) return t.getTime();
  return typeof t === "number" ? t : Date.parse(t);
}

/** True when `decision`/`reason` satisfy `expect`. */
export function expectationMatches(
  expect: string,
  decision: "allow" | "refuse",
  reason?: string,
): boolean {
  const e = expect.trim();
  if (e === "allow") return decision === "allow";
  if (e === "refuse") return decision === "refuse";
  const want = e.startsWith("refuse") ? e.slice(e.indexOf(":") + 1).trim() : e;
  return decision === "refuse" && reason === want;
}

/**
 * Decides one case as the daemon would after authentication: server enabled and its
 * CIDRs, user known, then the policy (validity, servers, CIDRs, ACL, payload).
 * Not simulated: rate limits, bans, replay, max_uses, challenges.
 */
export function decideCase(runtime: Runtime, c: SimCase, index: number, now: number): SimOutcome {
  const servers = runtime.config.servers;
  const serverName = c.server ?? (servers.find((s) => s.enabled) ?? servers[0])?.name ?? "";
  const out: SimOutcome = {
    index,
    name: c.name,
    user: c.user,
    action: c.action,
    source: c.source,
    server: serverName,
    decision: "refuse",
    expect: c.expect,
  };
  const done = (reason?: string): SimOutcome => {
    if (reason === undefined) out.decision = "allow";
    else out.reason = reason;
    if (c.expect !== undefined) out.matched = expectationMatches(c.expect, out.decision, reason);
    return out;
  };
  const server = runtime.servers.get(serverName);
  if (!server) return done("unknown_server");
  if (!server.config.enabled) return done("server_disabled");
  const ip = parseIp(c.source)!;
  if (!anyCidrContains(server.config.allow_cidrs, ip)) return done("server_cidr");
  const user = typeof c.user === "number"
    ? runtime.users.get(c.user)
    : [...runtime.users.values()].find((u) => u.config.name === c.user);
  if (!user) return done("unknown_user");
  const actionId = typeof c.action === "number"
    ? c.action
    : runtime.actionIdsByName.get(c.action) ?? 0;
  const decision = decidePolicy({
    runtime,
    server,
    user,
    actionId,
    ip,
    payload: new TextEncoder().encode(c.payload ?? ""),
    now: c.time === undefined ? now : toTime(c.time),
  });
  return done(decision.ok ? undefined : decision.reason);
}

/** Reads and validates a cases file; errors are `file:line:col: cases[i].field: message`. */
export async function loadCases(path: string): Promise<SimCase[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${err instanceof Error ? err.message : err}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const at = (offset: number) => {
    const p = lines.linePos(offset);
    return `${path}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0) {
    throw new CliError(doc.errors.map((e) => `${at(e.pos[0])}: ${e.message}`).join("\n"));
  }
  let root: unknown = doc.contents;
  let prefix: (string | number)[] = [];
  if (isMap(root) && root.has("cases")) {
    root = root.get("cases", true);
    prefix = ["cases"];
  }
  if (!isSeq(root)) {
    throw new CliError(`${at(0)}: expected a list of cases (or cases: [...])`);
  }
  const raw = doc.toJS() as unknown;
  const list = prefix.length ? (raw as { cases: unknown[] }).cases : raw as unknown[];
  const errors: string[] = [];
  const cases: SimCase[] = [];
  list.forEach((item, i) => {
    const r = CaseSchema.safeParse(item);
    if (r.success) return cases.push(r.data);
    for (const issue of r.error.issues) {
      const path = [...prefix, i, ...issue.path.map((k) => k as string | number)];
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      const fallback = doc.getIn([...prefix, i], true) as { range?: [number, number, number] };
      const offset = node?.range?.[0] ?? fallback?.range?.[0] ?? 0;
      const where = `cases[${i}]${issue.path.length ? "." + issue.path.join(".") : ""}`;
      errors.push(`${at(offset)}: ${where}: ${issue.message}`);
    }
  });
  if (errors.length) throw new UsageError(`cases file has errors:\n${errors.join("\n")}`);
  return cases;
}

/** Prints outcomes as a table. */
export function formatOutcomes(outcomes: SimOutcome[]): string {
  const rows = [["#", "USER", "ACTION", "SOURCE", "DECISION", ""]];
  for (const o of outcomes) {
    rows.push([
      String(o.index),
      String(o.user),
      String(o.action),
      o.source,
      o.decision === "allow" ? "allow" : `refuse: ${o.reason}`,
      o.matched === false ? `MISMATCH: expected ${o.expect}` : o.matched ? "ok" : "",
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
  const failed = outcomes.filter((o) => o.matched === false).length;
  const allowed = outcomes.filter((o) => o.decision === "allow").length;
  lines.push(
    `${outcomes.length} case(s): ${allowed} allowed, ${outcomes.length - allowed} refused` +
      (failed ? `; ${failed} expectation(s) FAILED` : ""),
  );
  return lines.join("\n");
}

/** Runs `simulate`; returns the exit status. */
export async function simulate(
  configPath: string,
  casesPath: string,
  flags: { json?: boolean },
): Promise<number> {
  const config = await loadConfigOrFail(configPath);
  let runtime: Runtime;
  try {
    runtime = await buildRuntime(config);
  } catch (err) {
    throw new CliError(`${configPath}: ${err instanceof Error ? err.message : err}`);
  }
  const cases = await loadCases(casesPath);
  const now = Date.now();
  const outcomes = cases.map((c, i) => decideCase(runtime, c, i + 1, now));
  const failed = outcomes.filter((o) => o.matched === false).length;
  if (flags.json) console.log(JSON.stringify({ results: outcomes, failed }));
  else console.log(formatOutcomes(outcomes));
  return failed > 0 ? 1 : 0;
}

/** Registers the `simulate` subcommand. */
export function register(program: Command): void {
  program.command("simulate")
    .description("replay described requests against a config offline and print each decision")
    .argument("<config>", "daemon config file")
    .argument("<cases>", "YAML list of {user, action, source, time?, server?, payload?, expect?}")
    .option("--json", "print the decisions as JSON")
    .addHelpText(
      "after",
      `
A case is decided as the daemon decides an authenticated request: server enabled and
allow_cidrs, then user validity, servers, CIDRs, the action list, the action's CIDRs and
payload rules. Not simulated: rate limits, bans, replay, max_uses.
expect: allow | refuse | "refuse: REASON" | REASON (e.g. user_cidr, key_expired).

Exit status: 0 every expectation matched, 1 one did not (or the config is invalid), 2 usage.

Examples:
  siglatch simulate /etc/siglatch/siglatchd.yaml cases.yaml
  siglatch simulate siglatchd.yaml cases.yaml --json`,
    )
    .action(async (config: string, cases: string, flags: { json?: boolean }) => {
      const code = await simulate(config, cases, flags);
      if (code !== 0) throw new CliError("", code);
    });
}

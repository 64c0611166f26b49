/**
 * `siglatch bans list|add|remove`: the ban list in the state store the config names
 * (`state.path`, or `state.redis` for a cluster's shared list). Safe while the daemon runs
 * (Deno KV is SQLite: both may have it open; Redis is shared by design);
 * the running daemon picks changes up within a few seconds (it re-reads the store every
 * 5 s) and in any case on restart.
 * @module
 */
import type { Command } from "commander";
import { CliError, UsageError } from "./errors.ts";
import { DEFAULT_CONFIG_PATH, formatFinding, loadConfig } from "../config/load.ts";
import { parseDuration } from "../config/duration.ts";
import type { Config } from "../config/schema.ts";
import { openStateStore } from "./serve.ts";
import { BanList } from "../policy/bans.ts";
import { type Ban, parseSource } from "../policy/ratelimit.ts";

/** Loads the config (validation + lint, no file checks) or fails listing every error. */
async function loadConfigOrFail(path: string): Promise<Config> {
  const res = await loadConfig(path);
  if (!res.ok) {
    const errors = res.findings.filter((f) => f.severity === "error").map((f) => formatFinding(f));
    throw new CliError(`config has errors:\n${errors.join("\n")}`);
  }
  return res.config;
}

/** The IPv6 grouping the daemon uses (`rate_limit.ipv6_prefix`). */
function ipv6PrefixOf(config: Config): number {
  return config.rate_limit.ipv6_prefix;
}

async function withBans<T>(
  configPath: string,
  fn: (list: BanList, config: Config) => Promise<T>,
): Promise<T> {
  const config = await loadConfigOrFail(configPath);
  const store = await openStateStore(config);
  try {
    return await fn(new BanList(store), config);
  } finally {
    await store.close();
  }
}

function describe(ban: Ban, now: number): string {
  const left = ban.until === null ? "permanent" : `${formatLeft(ban.until - now)} left`;
  const until = ban.until === null ? "-" : new Date(ban.until).toISOString();
  return `${ban.source.padEnd(24)} ${left.padEnd(16)} ${until.padEnd(25)} ` +
    `count=${ban.count} reason=${ban.reason}`;
}

function formatLeft(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ""}`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

function parseAddress(text: string, config: Config): { source: string; family: 4 | 6 } {
  const parsed = parseSource(text, ipv6PrefixOf(config));
  if (typeof parsed === "string") throw new UsageError(parsed);
  return { source: parsed.text, family: parsed.family };
}

/** `bans list`. */
export function listBans(opts: { config: string; json?: boolean }): Promise<void> {
  return withBans(opts.config, async (list) => {
    const now = Date.now();
    const bans = (await list.list(now)).sort((a, b) => a.source.localeCompare(b.source));
    if (opts.json) {
      console.log(JSON.stringify(
        bans.map((b) => ({
          source: b.source,
          reason: b.reason,
          permanent: b.until === null,
          until: b.until === null ? null : new Date(b.until).toISOString(),
          count: b.count,
          created: new Date(b.created).toISOString(),
        })),
        null,
        2,
      ));
      return;
    }
    if (bans.length === 0) {
      console.log("no bans");
      return;
    }
    for (const b of bans) console.log(describe(b, now));
  });
}

/** `bans add`. */
export function addBan(
  address: string,
  opts: { config: string; for?: string; permanent?: boolean; reason?: string },
): Promise<void> {
  if (opts.permanent && opts.for !== undefined) {
    throw new UsageError("give either --for DURATION or --permanent, not both");
  }
  let duration = 3_600_000;
  if (opts.for !== undefined) {
    const ms = parseDuration(opts.for);
    if (ms === undefined || ms <= 0) {
      throw new UsageError(
        `--for "${opts.for}" is not a duration: expected e.g. 30m, 1h, 7d, 1h30m`,
      );
    }
    duration = ms;
  }
  return withBans(opts.config, async (list, config) => {
    const { source, family } = parseAddress(address, config);
    const now = Date.now();
    const previous = await list.get(source, now);
    const ban: Ban = {
      source,
      family,
      reason: opts.reason ?? "operator",
      created: now,
      until: opts.permanent ? null : now + duration,
      count: Math.max(1, previous?.count ?? 1),
    };
    await list.add(ban);
    const widened = family === 6 && address.trim() !== source
      ? ` (IPv6 bans cover a /${ipv6PrefixOf(config)})`
      : "";
    console.log(`banned ${describe(ban, now)}${widened}`);
  });
}

/** `bans remove`. */
export function removeBan(address: string, opts: { config: string }): Promise<void> {
  return withBans(opts.config, async (list, config) => {
    const { source } = parseAddress(address, config);
    if (!(await list.remove(source))) throw new CliError(`${source} is not banned`);
    console.log(`unbanned ${source}`);
  });
}

/** Registers `bans` with its subcommands. */
export function register(program: Command): void {
  const bans = program.command("bans")
    .description("list, add and remove banned sources (in the daemon's state store)")
    .addHelpText(
      "after",
      `
Sources are IPv4 addresses or IPv6 prefixes (rate_limit.ipv6_prefix, /64 by default):
an IPv6 address names its whole prefix. The daemon reads the store every 5 seconds, so
changes made here while it runs take effect within seconds (and on restart).

Examples:
  siglatch bans list --config /etc/siglatch/siglatchd.yaml
  siglatch bans add 192.0.2.7 --for 2h --reason "port scan"
  siglatch bans add 2001:db8:1:2::9 --permanent
  siglatch bans remove 192.0.2.7`,
    );
  const configOpt = ["-c, --config <file>", "config file", DEFAULT_CONFIG_PATH] as const;
  bans.command("list")
    .description("list active bans")
    .option(...configOpt)
    .option("--json", "print JSON")
    .action((o: { config: string; json?: boolean }) => listBans(o));
  bans.command("add")
    .description("ban a source (1h unless --for or --permanent)")
    .argument("<address>", "IPv4 address, or IPv6 address/prefix")
    .option(...configOpt)
    .option("--for <duration>", "how long, e.g. 30m, 1h, 7d")
    .option("--permanent", "never expires")
    .option("--reason <text>", "why (shown in list and logs)")
    .action((address: string, o: {
      config: string;
      for?: string;
      permanent?: boolean;
      reason?: string;
    }) => addBan(address, o));
  bans.command("remove")
    .description("lift the ban on a source")
    .argument("<address>", "IPv4 address, or IPv6 address/prefix")
    .option(...configOpt)
    .action((address: string, o: { config: string }) => removeBan(address, o));
  for (const cmd of bans.commands) {
    cmd.exitOverride().showHelpAfterError("(run with --help for usage)");
    cmd.configureOutput(program.configureOutput());
  }
}

/**
 * `siglatch serve`: runs the daemon (siglatchd) on a config file.
 * SIGTERM/SIGINT stop it gracefully; SIGHUP reloads the config.
 * @module
 */
import { type Command, Option } from "commander";
import { CliError } from "./errors.ts";
import { formatFinding, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { logger, setupLogging } from "../util/log.ts";
import { buildRuntime, startOpenPool } from "../daemon/runtime.ts";
import type { OpenPool } from "../daemon/open_pool.ts";
import { runPrivileged } from "../privsep/monitor.ts";
import { connectNetworkPart } from "../privsep/network.ts";
import { dropPrivileges } from "../privsep/drop.ts";
import { Daemon } from "../daemon/daemon.ts";
import type { StateStore } from "../state/store.ts";
import { readRedisPassword, redactRedisUrl } from "../state/redis_url.ts";
import { daemonExtensions, startAdmin } from "../admin/mod.ts";
import { usageExtensions } from "../admin/usage.ts";
import { KnockGuard } from "../stealth/knock_guard.ts";
import { decoyHooks, Decoys } from "../stealth/decoy_hooks.ts";
import { readHopSecrets } from "../stealth/hopping.ts";
import { enrollCommands } from "../enroll/commands.ts";
import { rotateCommands } from "../rotation/commands.ts";
import { readWebSecrets, startDaemonWeb, type WebSecrets } from "../web/mod.ts";
import { Notifier, notifyBindPath, sdNotify, watchdogUsec } from "../systemd/notify.ts";
import { NodeHeartbeat } from "../cluster/nodes.ts";

/** Options of `serve`. */
export interface ServeOptions {
  /** Config file path. */
  config: string;
  /** Run nothing, log what would run. */
  dryRun?: boolean;
  /** `UID:GID:USER`: this is the network part the privileged part started (internal). */
  networkPart?: string;
}

function formatFindings(
  findings: {
    severity: string;
    file: string;
    line: number;
    col: number;
    path: string;
    message: string;
  }[],
): string {
  return findings.map((f) => `${f.file}:${f.line}:${f.col}: ${f.severity}: ${f.path}: ${f.message}`)
    .join("\n");
}

/** Loads a config or throws a CliError listing every error with its position. */
export async function loadConfigOrFail(path: string): Promise<Config> {
  return (await loadConfigWithWarnings(path)).config;
}

/** Loads a config with its lint warnings (`file:line:col: path: message`), or throws a CliError. */
export async function loadConfigWithWarnings(
  path: string,
): Promise<{ config: Config; warnings: string[]; files: string[] }> {
  const res = await loadConfig(path);
  if (!res.ok) {
    throw new CliError(
      `config has errors:\n${formatFindings(res.findings.filter((f) => f.severity === "error"))}`,
    );
  }
  return {
    config: res.config,
    warnings: res.findings.map((f) => formatFinding(f)),
    files: res.files,
  };
}

/**
 * Opens the state store the config names: Redis (cluster) or the embedded Deno KV file.
 * Each store's module is imported only here, when the config names it: ioredis alone adds
 * ~18 MB to the daemon's RSS, and most daemons never use it.
 */
export async function openStateStore(config: Config): Promise<StateStore> {
  try {
    if (config.state.redis) {
      const { RedisStateStore } = await import("../state/redis.ts");
      const file = config.state.redis_password_file;
      return await RedisStateStore.connect(config.state.redis, {
        prefix: config.state.key_prefix,
        password: file === undefined ? undefined : await readRedisPassword(file),
        ca: config.state.redis_ca_file === undefined
          ? undefined
          : await Deno.readTextFile(config.state.redis_ca_file),
      });
    }
    const { KvStateStore } = await import("../state/kv.ts");
    return await KvStateStore.open(config.state.path);
  } catch (err) {
    const where = config.state.redis
      ? `state.redis ${redactRedisUrl(config.state.redis)}`
      : `state.path ${config.state.path}`;
    throw new CliError(
      `cannot open the state store (${where}): ${err instanceof Error ? err.message : err}`,
    );
  }
}

/** Loads the code of the store the config names (before the network part drops root). */
async function preloadStateStore(config: Config): Promise<void> {
  if (config.state.redis) await import("../state/redis.ts");
  else await import("../state/kv.ts");
}

/** Runs the daemon until a stop signal; resolves with the exit status. */
export async function serve(opts: ServeOptions): Promise<number> {
  const { config, warnings, files } = await loadConfigWithWarnings(opts.config);
  setupLogging(config.logging);
  const log = logger("serve");
  if (config.servers.filter((s) => s.enabled).length === 0) {
    throw new CliError(`${opts.config}: no enabled servers: nothing to listen on`);
  }
  if (!opts.networkPart && config.privsep.enabled && Deno.uid() === 0) {
    // Root: keep only the privileged operations here; the network part runs as a user.
    try {
      return await runPrivileged({ configPath: opts.config, config, files, dryRun: opts.dryRun });
    } catch (err) {
      throw new CliError(`cannot start: ${err instanceof Error ? err.message : err}`);
    }
  }
  const net = opts.networkPart ? connectNetworkPart(opts.networkPart) : undefined;
  let runtime;
  try {
    runtime = await buildRuntime(config, Date.now, await net?.keys());
  } catch (err) {
    throw new CliError(`${opts.config}: ${err instanceof Error ? err.message : err}`);
  }
  let secrets: WebSecrets;
  try {
    secrets = await readWebSecrets(config); // before the drop: the files may be root's
  } catch (err) {
    throw new CliError(`admin: ${err instanceof Error ? err.message : err}`);
  }
  let pool: OpenPool | undefined;
  // Secrets the network part needs are read while it may still read them.
  const hopSecrets = await readHopSecrets(config).catch((err) => {
    throw new CliError(`${opts.config}: ${err instanceof Error ? err.message : err}`);
  });
  // Decoy ports are bound while this process may still bind ports below 1024 (issue 17).
  let decoys: Decoys;
  try {
    decoys = Decoys.bind(config.decoys);
  } catch (err) {
    throw new CliError(`${opts.config}: ${err instanceof Error ? err.message : err}`);
  }
  if (net) {
    // Everything that loads code happens before the drop: the workers, the store module.
    pool = await startOpenPool(runtime);
    await preloadStateStore(config);
    dropPrivileges(net.target);
    log.info("network part runs as {user} ({uid}:{gid})", {
      user: net.target.user,
      uid: net.target.uid,
      gid: net.target.gid,
    });
  }
  const store = await openStateStore(config);
  const daemon = new Daemon(runtime, store, {
    dryRun: opts.dryRun,
    configPath: opts.config,
    warnings,
    pool,
    hopSecrets,
    ...(net
      ? {
        runner: net.runner,
        nftGrants: net.grants,
        nftBans: () => net.bans,
        keySource: () => net.reloadKeys(),
        socketOptions: false,
      }
      : {}),
  });
  let knock: KnockGuard | undefined;
  try {
    // Without privilege separation this process writes the knock rules itself.
    if (!net) knock = await KnockGuard.start({ config: () => daemon.runtime.config });
    await daemon.start();
    decoys.start(decoyHooks(daemon));
  } catch (err) {
    decoys.stop();
    await knock?.stop().catch(() => {});
    await store.close();
    throw new CliError(`cannot start: ${err instanceof Error ? err.message : err}`);
  }
  // systemd (Type=notify): the privileged part is the main process and tells it for us.
  const notifier = new Notifier(
    net
      ? async (state) => await net.channel.call("notify", { state }) === true
      : (state) => sdNotify(state, { bind: notifyBindPath(config.admin.socket) }),
  );
  const nodes = new NodeHeartbeat(store, {
    configVersion: () => daemon.configVersion,
    listening: () => daemon.listening(),
  });
  await nodes.start();
  const admin = await startAdmin(daemon, config.admin.socket, {
    ...daemonExtensions(daemon),
    ...usageExtensions(daemon),
    commands: { ...enrollCommands(daemon), ...rotateCommands(daemon), ...nodes.commands() },
    aroundReload: (reload) => notifier.aroundReload(reload),
  });
  const web = await startDaemonWeb(config, admin.control, () => daemon.metrics.render(), secrets);
  log.info("siglatchd ready{dry}", { dry: opts.dryRun ? " (dry run: no action runs)" : "" });

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const onStop = (sig: string) => () => stop(sig);
  // The network part ends with the privileged part.
  net?.channel.done.then(() => stop("privileged part gone"));
  Deno.addSignalListener("SIGTERM", onStop("SIGTERM"));
  Deno.addSignalListener("SIGINT", onStop("SIGINT"));
  Deno.addSignalListener("SIGHUP", () => {
    // RELOADING … READY come from aroundReload, as for reloads from the socket and the web.
    admin.control.reload()
      .catch((err) => log.error("reload failed: {err}", { err: String(err) }));
  });
  // After the signal handlers: a SIGHUP right after READY must reload, not kill.
  notifier.ready();
  notifier.startWatchdog(watchdogUsec());
  const sig = await stopped;
  log.info("{sig}: stopping (grace {grace} ms)", { sig, grace: config.execution.grace_period });
  await notifier.stopping();
  await web?.stop();
  await admin.stop();
  await nodes.stop();
  decoys.stop();
  await daemon.stop(config.execution.grace_period);
  await knock?.stop();
  log.info("stopped");
  return 0;
}

/** Registers the `serve` subcommand. */
export function register(program: Command): void {
  program.command("serve")
    .description("run the daemon (siglatchd): listen for packets and run allowed actions")
    .option("-c, --config <file>", "config file", "/etc/siglatch/siglatchd.yaml")
    .option("--dry-run", "authenticate and decide as usual, but run no action; log what would run")
    .addOption(
      new Option("--network-part <uid:gid:user>", "internal: run as the network part").hideHelp(),
    )
    .addHelpText(
      "after",
      `
Signals: SIGTERM/SIGINT stop gracefully (running actions get execution.grace_period),
SIGHUP reloads the config (a config with errors is refused and the old one keeps serving).

Examples:
  siglatch serve --config /etc/siglatch/siglatchd.yaml
  siglatch serve --config ./siglatchd.yaml --dry-run`,
    )
    .action(async (o: { config: string; dryRun?: boolean; networkPart?: string }) => {
      const code = await serve({ config: o.config, dryRun: o.dryRun, networkPart: o.networkPart });
      if (code !== 0) throw new CliError("", code);
    });
}

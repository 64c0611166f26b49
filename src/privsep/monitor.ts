/**
 * `siglatch serve` started as root: the privileged part. It loads the config and its keys,
 * hands the state and admin-socket directories to the network part's user, starts the
 * network part (this same program with `--network-part`, narrowed Deno permissions; it
 * drops to that user before it opens any socket) and then only answers its requests over
 * the channel (stdin/stdout of the child). Signals are passed on: SIGTERM/SIGINT stop,
 * SIGHUP reloads. When the network part ends, so does this process.
 * @module
 */
import { basename, dirname, join } from "node:path";
import { watchdogUsec } from "../systemd/notify.ts";
import { logger } from "../util/log.ts";
import { resolveRunAs } from "../util/sysdb.ts";
import type { Config } from "../config/schema.ts";
import { DEADDROP_DEFAULT_USERS } from "../daemon/runtime.ts";
import { RpcChannel } from "./channel.ts";
import { PrivilegedOps } from "./privileged.ts";
import type { DropTarget } from "./drop.ts";
import { KnockGuard } from "../stealth/knock_guard.ts";

/** V8 flags of the network part (as the shipped daemon). */
const V8_FLAGS = "--v8-flags=--max-semi-space-size=1,--memory-saver-mode";
/** Environment the network part keeps (everything else is cleared). */
const KEPT_ENV = [
  "PATH",
  "HOME",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "NO_COLOR",
  "TERM",
  "LANG",
  "JOURNAL_STREAM",
];

/** The user the network part runs as: `privsep.user`, else `siglatch`, else `nobody`. */
export function networkUser(config: Config): DropTarget {
  const names = config.privsep.user ? [config.privsep.user] : [...DEADDROP_DEFAULT_USERS];
  for (const name of names) {
    const r = resolveRunAs(name);
    if (typeof r !== "string") return { user: r.user, uid: r.uid, gid: r.gid };
    if (config.privsep.user) throw new Error(`privsep.user: ${r}`);
  }
  throw new Error(`privsep: none of ${names.join(", ")} exists; create one or set privsep.user`);
}

/**
 * Makes `dir` the network part's: created if missing; an existing directory is handed over
 * only when it is siglatch's own (`dedicated`), never a shared one (world-writable or
 * sticky, like /tmp).
 */
export async function handOver(
  dir: string,
  to: DropTarget,
  dedicated: boolean,
  withFiles = false,
): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    await Deno.mkdir(dir, { recursive: true, mode: 0o750 });
    await Deno.chown(dir, to.uid, to.gid);
    return;
  }
  if (info.uid === to.uid) return;
  const mode = info.mode ?? 0;
  if (!dedicated || (mode & 0o1002) !== 0) {
    throw new Error(
      `${dir} is not writable by ${to.user} (uid ${to.uid}), who runs the network part: ` +
        `give it to that user (chown ${to.user} ${dir}) or choose another directory`,
    );
  }
  await Deno.chown(dir, to.uid, to.gid);
  if (!withFiles) return;
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) await Deno.chown(join(dir, e.name), to.uid, to.gid);
  }
}

/** The network part's Deno flags: no run, no ffi, writes only where its state lives. */
export function networkFlags(config: Config, files: string[]): string[] {
  const src = new URL("../", import.meta.url);
  const read = new Set<string>([
    ...files.map((f) => dirname(f)),
    ...config.servers.flatMap((s) => s.port_hopping ? [s.port_hopping.secret_file] : []),
    config.state.path,
    dirname(config.admin.socket),
    "/etc/passwd",
    "/etc/group",
    "/proc",
  ]);
  for (const f of [config.admin.token_file, config.admin.tls_cert, config.admin.tls_key]) {
    if (f) read.add(f);
  }
  if (src.protocol === "file:") read.add(src.pathname.replace(/\/$/, ""));
  const write = new Set([config.state.path, dirname(config.admin.socket)]);
  if (config.logging.file) write.add(config.logging.file);
  return [
    "--unstable-net",
    "--unstable-kv",
    `--allow-read=${[...read].join(",")}`,
    `--allow-write=${[...write].join(",")}`,
    // Replies go to whichever address sent a valid request: Deno checks a datagram's
    // destination, so the network part needs net access to any host.
    "--allow-net",
    "--allow-env",
    // setuid/setgid (the drop) need the whole sys permission.
    "--allow-sys",
    V8_FLAGS,
  ];
}

/** The argv that starts this program again as the network part. */
function childArgv(configPath: string, flags: string[], to: DropTarget): string[] {
  const main = new URL(Deno.mainModule);
  const tail = [
    "serve",
    "--config",
    configPath,
    "--network-part",
    `${to.uid}:${to.gid}:${to.user}`,
  ];
  if (main.pathname.includes("/deno-compile-")) return tail; // a compiled binary: flags baked in
  const denoJson = join(dirname(main.pathname), "deno.json");
  return ["run", `--config=${denoJson}`, ...flags, main.pathname, ...tail];
}

/** Options of {@linkcode runPrivileged}. */
export interface PrivilegedOptions {
  /** The config file. */
  configPath: string;
  /** The validated config. */
  config: Config;
  /** The files it was read from (main, then includes). */
  files: string[];
  /** Pass `--dry-run` on. */
  dryRun?: boolean;
}

/** Runs the privileged part until the network part ends; resolves with the exit status. */
export async function runPrivileged(opts: PrivilegedOptions): Promise<number> {
  const log = logger("privileged");
  const { config } = opts;
  const ops = await PrivilegedOps.load(opts.configPath, config);
  const knock = await KnockGuard.start({ config: () => ops.config });
  const to = networkUser(config);
  if (!config.state.redis) await handOver(config.state.path, to, true, true);
  const adminDir = dirname(config.admin.socket);
  await handOver(adminDir, to, /siglatch/.test(basename(adminDir)));
  const env: Record<string, string> = {};
  for (const name of KEPT_ENV) {
    try {
      const v = Deno.env.get(name);
      if (v !== undefined) env[name] = v;
    } catch {
      // not allowed to read it: the network part goes without
    }
  }
  const watchdog = watchdogUsec();
  if (watchdog) env.SIGLATCH_WATCHDOG_USEC = String(watchdog);
  const argv = childArgv(opts.configPath, networkFlags(config, opts.files), to);
  if (opts.dryRun) argv.push("--dry-run");
  const child = new Deno.Command(Deno.execPath(), {
    args: argv,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    clearEnv: true,
    env,
  }).spawn();
  const channel = new RpcChannel(child.stdout, child.stdin, {
    handler: (op, args, emit) => ops.handle(op, args, emit),
  });
  log.info("network part started as {user} ({uid}:{gid}), pid {pid}", {
    user: to.user,
    uid: to.uid,
    gid: to.gid,
    pid: child.pid,
  });
  const forward = (sig: Deno.Signal) => () => {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  const signals: [Deno.Signal, () => void][] = [
    ["SIGTERM", forward("SIGTERM")],
    ["SIGINT", forward("SIGTERM")],
    ["SIGHUP", forward("SIGHUP")],
  ];
  for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);
  const status = await child.status;
  for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);
  await channel.close();
  await ops.stop();
  await knock?.stop();
  log.info("network part ended with {code}", { code: status.code });
  return status.code;
}

/**
 * The exact Deno permission flags a config needs: what `siglatch permissions` prints and
 * what the daemon should be started with, so the code that parses network input holds
 * only what the config uses. `tests/cli/permissions_test.ts` starts the daemon with exactly
 * these flags (KV and Redis state, admin socket, firewall action) and gets replies.
 * @module
 */
import { notifyBindPath } from "../systemd/notify.ts";
import type { Config } from "../config/schema.ts";
import { bindPath } from "../admin/socket_path.ts";
import { libcPath } from "../net/sockopt.ts";

/**
 * Environment variables read with the embedded (KV) store: the `yaml` parser looks at
 * LOG_TOKENS and LOG_STREAM (debug switches) whenever it parses, and Deno throws on a read
 * it may not make.
 */
const ENV_VARS = ["LOG_STREAM", "LOG_TOKENS"];

/** ENV_VARS plus what key passphrases and systemd credentials read. */
function envVars(config: Config): string[] {
  return unique([
    ...ENV_VARS,
    ...config.servers.map((s) => s.key_passphrase?.env),
    config.servers.some((s) => s.key_passphrase?.credential) ? "CREDENTIALS_DIRECTORY" : undefined,
  ]);
}

/** Deno's IPv4 subnet form; the CLI of Deno 2.9 cannot parse an IPv6 subnet (`[::]/0`). */
const ANY_IPV4 = "0.0.0.0/0";

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i > 0 ? path.slice(0, i) : "/";
}

function unique(list: (string | undefined)[]): string[] {
  return [...new Set(list.filter((x): x is string => x !== undefined && x.length > 0))].sort();
}

/** Paths without those a listed directory already covers (a grant on a dir covers its tree). */
function withoutCovered(paths: string[]): string[] {
  return paths.filter((p) => !paths.some((d) => d !== p && (d === "/" || p.startsWith(`${d}/`))));
}

/**
 * Run from source, the open workers load their module (and what it imports) from `src/`;
 * a compiled binary embeds it (`deno compile --include src/daemon/open_worker.ts`).
 */
function openWorkerSources(config: Config): string | undefined {
  if (config.limits.open_workers === 0) return undefined;
  const src = new URL("../", import.meta.url);
  return src.protocol === "file:" ? src.pathname.replace(/\/$/, "") : undefined;
}

/**
 * Net entries. Deno checks the DESTINATION of every `DatagramConn.send`, and a reply goes to
 * whatever address and port the client sent from, so replies need every address: `0.0.0.0/0`
 * when every listen address is IPv4 (it also covers the binds), else unrestricted (returns
 * undefined). Unix sockets are named by exact path: the admin socket and the path it is
 * first bound at. Host names (Redis) are matched by name, so they are listed as given.
 */
/** The notify socket systemd names (its usual path when unset). */
function notifySocket(): string {
  try {
    const s = Deno.env.get("NOTIFY_SOCKET");
    if (s?.startsWith("/")) return s;
  } catch {
    // no env access
  }
  return "/run/systemd/notify";
}

function netEntries(config: Config): string[] | undefined {
  const listens = config.servers.flatMap((s) => s.listen);
  if (listens.some((l) => l.family === 6) || config.admin.web_listen?.family === 6) {
    return undefined;
  }
  const hostPort = (h: { host: string; port: number; family?: number }) =>
    h.family === 6 ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
  let redis: string | undefined;
  if (config.state.redis) {
    const u = new URL(config.state.redis);
    redis = `${u.hostname}:${u.port || "6379"}`;
  }
  return unique([
    ANY_IPV4,
    ...config.actions.flatMap((a) => (a.relay ? [hostPort(a.relay.to)] : [])),
    ...config.actions.flatMap((a) =>
      a.forward ? [hostPort(a.forward.listen), hostPort(a.forward.to)] : []
    ),
    redis,
    `unix:${config.admin.socket}`,
    `unix:${bindPath(config.admin.socket)}`,
    // sd_notify (systemd Type=notify): sent from a socket next to the admin socket.
    `unix:${notifyBindPath(config.admin.socket)}`,
    `unix:${notifySocket()}`,
    config.admin.web_listen ? hostPort(config.admin.web_listen) : undefined,
  ]);
}

/** Whether any action, destructor or dead drop starts a process (through `setsid`). */
function startsProcesses(config: Config): boolean {
  return config.deaddrops.length > 0 ||
    config.actions.some((a) =>
      a.type === "exec" || a.type === "plugin" || a.destructor !== undefined
    );
}

/** Computes the permission flags for serving `config` (read from `configPath`). */
export function permissionFlags(config: Config, configPath: string): string[] {
  const kv = config.state.redis === undefined;
  const admin = config.admin.socket;
  const read = withoutCovered(unique([
    configPath,
    dirOf(configPath),
    "/etc/passwd",
    "/etc/group",
    ...config.servers.flatMap((s) => [s.key_file, s.identity_key_file, s.key_passphrase?.file]),
    ...config.servers.some((s) => s.key_passphrase?.credential)
      ? [Deno.env.get("CREDENTIALS_DIRECTORY")]
      : [],
    ...config.users.flatMap((u) => [u.hmac_key_file, u.ed25519_public_key_file]),
    kv ? config.state.path : undefined,
    config.plugins.dir,
    dirOf(admin),
    config.admin.token_file,
    config.admin.tls_cert,
    config.admin.tls_key,
    // sd_notify: Deno checks read, write and net access for a Unix socket it sends to.
    notifySocket(),
    openWorkerSources(config),
    // Privilege separation: the privileged part starts the network part with this binary.
    config.privsep.enabled ? Deno.execPath() : undefined,
  ]));
  const write = withoutCovered(
    unique([
      kv ? config.state.path : undefined,
      config.logging.file,
      dirOf(admin),
      notifySocket(),
    ]),
  );
  const net = netEntries(config);
  const run = unique([
    startsProcesses(config) ? "setsid" : undefined,
    // The containment probe runs unshare itself (each action's own PID namespace).
    startsProcesses(config) ? "unshare" : undefined,
    config.privsep.enabled ? Deno.execPath() : undefined,
    ...config.servers.map((s) => s.key_command?.[0]),
    // Module and native plugins run in a `deno run` child (src/plugins/launch.ts).
    config.actions.some((a) => a.type === "plugin") ? Deno.execPath() : undefined,
    config.actions.some((a) => a.type === "firewall") || config.rate_limit.nftables
      ? "nft"
      : undefined,
  ]);
  const ffi = libcPath();
  return [
    "--unstable-net",
    ...(kv ? ["--unstable-kv"] : []),
    `--allow-read=${read.join(",")}`,
    `--allow-write=${write.join(",")}`,
    net ? `--allow-net=${net.join(",")}` : "--allow-net",
    ...(run.length > 0 ? [`--allow-run=${run.join(",")}`] : []),
    // serve asks whether it runs as root (then it separates privileges).
    "--allow-sys=uid,gid",
    // ioredis loads `debug`, which lists the whole environment (Object.keys(process.env)).
    kv ? `--allow-env=${envVars(config).join(",")}` : "--allow-env",
    // libc only, for SO_RCVBUF (limits.recv_buffer) and the kernel's drop counters.
    ...(ffi ? [`--allow-ffi=${ffi}`] : []),
  ];
}

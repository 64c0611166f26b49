/**
 * The exact Deno permission flags a config needs: what `siglatch permissions` prints and
 * what the daemon should be started with, so the code that parses network input holds
 * only what the config uses.
 * @module
 */
import type { Config } from "../config/schema.ts";
import { libcPath } from "../net/sockopt.ts";

/** Environment variables the daemon's own libraries read. */
const ENV_VARS = ["NO_COLOR", "FORCE_COLOR", "TERM", "CLICOLOR_FORCE", "HOME", "XDG_CONFIG_HOME"];

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i > 0 ? path.slice(0, i) : "/";
}

function unique(list: (string | undefined)[]): string[] {
  return [...new Set(list.filter((x): x is string => x !== undefined && x.length > 0))].sort();
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

/** Computes the permission flags for serving `config` (read from `configPath`). */
export function permissionFlags(config: Config, configPath: string): string[] {
  const read = unique([
    configPath,
    dirOf(configPath),
    "/etc/passwd",
    "/etc/group",
    ...config.servers.flatMap((s) => [s.key_file, s.identity_key_file]),
    ...config.users.flatMap((u) => [u.hmac_key_file, u.ed25519_public_key_file]),
    ...config.actions.flatMap((a) => [
      a.plugin?.module,
      a.relay?.key_file,
      a.relay?.server_public_key_file,
    ]),
    config.state.path,
    openWorkerSources(config),
  ]);
  const write = unique([config.state.path, config.logging.file, dirOf(config.admin.socket)]);
  const net = unique([
    ...config.servers.filter((s) => s.enabled).flatMap((s) =>
      s.listen.map((l) => (l.family === 6 ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`))
    ),
    ...config.actions.flatMap((a) =>
      a.relay
        ? [
          `${
            a.relay.to.family === 6 ? `[${a.relay.to.host}]` : a.relay.to.host
          }:${a.relay.to.port}`,
        ]
        : []
    ),
    config.admin.web_listen,
    config.state.redis ? new URL(config.state.redis).host : undefined,
  ]);
  const run = unique([
    "setsid",
    ...config.actions.flatMap((a) => [
      a.command?.[0],
      Array.isArray(a.destructor) ? a.destructor[0] : undefined,
    ]),
    config.actions.some((a) => a.type === "firewall") ||
      config.rate_limit.nftables
      ? "nft"
      : undefined,
  ]);
  const ffi = libcPath();
  return [
    "--unstable-net",
    "--unstable-kv",
    `--allow-read=${read.join(",")}`,
    `--allow-write=${write.join(",")}`,
    `--allow-net=${net.join(",")}`,
    `--allow-run=${run.join(",")}`,
    `--allow-env=${ENV_VARS.join(",")}`,
    "--allow-sys=uid,gid,hostname,osRelease",
    // libc only, for SO_RCVBUF (limits.recv_buffer) and the kernel's drop counters.
    ...(ffi ? [`--allow-ffi=${ffi}`] : []),
  ];
}

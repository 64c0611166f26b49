/**
 * Daemon-wide settings: the ones one process has once (the source gate, the reply rate,
 * the replay guard), read from the config in one place.
 * @module
 */
import type { Config } from "../config/schema.ts";
import { RateLimitSchema } from "../config/schema.ts";

/** The daemon-wide settings of a config. */
export interface DaemonWideSettings {
  /** Per-source rate limits and bans. */
  rateLimit: Config["servers"][number]["rate_limit"];
  /** Replies per second per destination. */
  replyRate: number;
  /** Most nonces the replay guard holds. */
  replayCacheEntries: number;
  /** How long a nonce must be remembered: the widest clock-skew window of any server. */
  replayWindowMs: number;
}

/** Reads the daemon-wide settings of `config`. */
export function daemonWide(config: Config): DaemonWideSettings {
  const first = config.servers[0];
  return {
    rateLimit: first?.rate_limit ?? RateLimitSchema.parse({}),
    replyRate: first?.limits.reply_rate ?? 20,
    replayCacheEntries: first?.limits.replay_cache_entries ?? 1_000_000,
    replayWindowMs: config.servers.length === 0
      ? 30_000
      : Math.max(...config.servers.map((s) => s.limits.clock_skew)),
  };
}

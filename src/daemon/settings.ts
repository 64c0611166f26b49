/**
 * Daemon-wide settings: the ones one process has once (the source gate, the reply rate,
 * the replay guard), read from the config in one place.
 * @module
 */
import { type Config, replayWindowMs } from "../config/schema.ts";

/** The daemon-wide settings of a config. */
export interface DaemonWideSettings {
  /** Per-source rate limits and bans. */
  rateLimit: Config["rate_limit"];
  /** Replies per second per destination. */
  replyRate: number;
  /** Most nonces the replay guard holds. */
  replayCacheEntries: number;
  /** How long a nonce must be remembered: the widest clock-skew window of any server. */
  replayWindowMs: number;
}

/** Reads the daemon-wide settings of `config`. */
export function daemonWide(config: Config): DaemonWideSettings {
  return {
    rateLimit: config.rate_limit,
    replyRate: config.limits.reply_rate,
    replayCacheEntries: config.limits.replay_cache_entries,
    replayWindowMs: replayWindowMs(config),
  };
}

/**
 * Bans and grants for the control socket, from the daemon's source defense (bans) and
 * action sessions (firewall grants, keepalive timers).
 * @module
 */
import { formatDuration } from "../config/duration.ts";
import type { Config } from "../config/schema.ts";
import type { SourceDefense } from "../policy/defense.ts";
import { parseSource } from "../policy/ratelimit.ts";
import type { ActionSessions } from "../actions/sessions.ts";
import { CommandError, type ControlExtensions } from "./control.ts";

/** Ban time when `ban` is given neither `--for` nor `--permanent` (as `siglatch bans add`). */
export const DEFAULT_BAN_MS = 3_600_000;

/** What the adapter needs from the daemon. */
export interface DefendedDaemon {
  /** Rate limits and bans. */
  readonly defense: SourceDefense;
  /** Grants and timers (absent until started). */
  readonly sessions?: ActionSessions;
  /** The running config. */
  readonly runtime: { config: Config };
}

/** Builds the control socket's bans and grants from a running daemon. */
export function daemonExtensions(
  daemon: DefendedDaemon,
  clock: () => number = Date.now,
): ControlExtensions {
  const prefix = () => daemon.runtime.config.rate_limit.ipv6_prefix;
  const source = (addr: string) => {
    const parsed = parseSource(addr, prefix());
    if (typeof parsed === "string") throw new CommandError(parsed);
    return parsed;
  };
  return {
    listBans: () => {
      const now = clock();
      return Promise.resolve(
        daemon.defense.gate.bans(now)
          .sort((a, b) => a.source.localeCompare(b.source))
          .map((b) => ({
            source: b.source,
            left: b.until === null ? "permanent" : formatDuration(b.until - now),
            until: b.until === null ? null : new Date(b.until).toISOString(),
            count: b.count,
            reason: b.reason,
          })),
      );
    },
    ban: async (addr, opts) => {
      const s = source(addr);
      const now = clock();
      const ok = await daemon.defense.ban({
        source: s.text,
        family: s.family,
        reason: opts.reason ?? "operator",
        created: now,
        until: opts.permanent ? null : now + (opts.forMs ?? DEFAULT_BAN_MS),
        count: 1,
      });
      if (!ok) {
        throw new CommandError(`ban ${s.text}: refused (allow-listed, or the ban table is full)`);
      }
    },
    unban: (addr) => daemon.defense.unban(source(addr).text),
    revoke: async (user, addr) => {
      const u = daemon.runtime.config.users.find((x) => x.name === user);
      if (!u) throw new CommandError(`revoke: no user named "${user}"`);
      if (!daemon.sessions) return { grants: 0, sessions: 0 };
      return await daemon.sessions.revokeUser(u.id, addr);
    },
    listGrants: () => {
      if (!daemon.sessions) return Promise.resolve([]);
      const { grants, sessions } = daemon.sessions.list();
      return Promise.resolve([
        ...grants.map((g) => ({
          kind: "grant",
          what: `${g.address} ${g.ports.join(",")}`,
          user: g.user,
          action: g.action,
          left: formatDuration(g.remainingMs),
        })),
        ...sessions.map((s) => ({
          kind: "session",
          what: s.key,
          user: s.labels?.user ?? "",
          action: s.labels?.action ?? "",
          left: `${formatDuration(s.remainingMs)} (${s.state})`,
        })),
      ]);
    },
  };
}

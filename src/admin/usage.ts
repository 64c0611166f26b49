/**
 * Use counts for the control socket (`usage [USER] [--reset]`): each configured user's
 * requests that ran, ever and today (UTC), against its `max_uses` / `max_uses_per_day`,
 * read from the state store (cluster-wide on Redis).
 * @module
 */
import type { Config } from "../config/schema.ts";
import type { StateStore } from "../state/store.ts";
import { UseLedger } from "../daemon/usage.ts";
import { CommandError, type ControlExtensions } from "./control.ts";

/** What the usage commands need from the daemon. */
export interface CountingDaemon {
  /** The state store. */
  readonly store: StateStore;
  /** The running config. */
  readonly runtime: { config: Config };
}

/** The control socket's `usage` commands over a running daemon. */
export function usageExtensions(
  daemon: CountingDaemon,
  clock: () => number = Date.now,
): Pick<ControlExtensions, "usage" | "resetUsage"> {
  const ledger = new UseLedger(daemon.store, clock);
  const find = (name: string) => {
    const u = daemon.runtime.config.users.find((x) => x.name === name);
    if (!u) throw new CommandError(`usage: no user named "${name}"`);
    return u;
  };
  return {
    usage: async (name) => {
      const users = name === undefined ? daemon.runtime.config.users : [find(name)];
      const rows = [];
      for (const u of users) {
        const c = await ledger.counts(u.id);
        rows.push({
          user: u.name,
          id: u.id,
          total: c.total,
          max_uses: u.max_uses ?? "-",
          today: c.today,
          max_uses_per_day: u.max_uses_per_day ?? "-",
          not_before: u.not_before === undefined ? "-" : new Date(u.not_before).toISOString(),
          not_after: u.not_after === undefined ? "-" : new Date(u.not_after).toISOString(),
        });
      }
      return rows;
    },
    resetUsage: (name) => ledger.reset(find(name).id),
  };
}

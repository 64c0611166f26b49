/**
 * Connects server decoys (`decoys.ts`) to a daemon: hits go to its counters (`status`), and
 * with `decoys.ban` to its source defense as proven failures (which can ban the source); a
 * source the defense has banned (by failures, `siglatch bans`, a decoy) gets no answer.
 * @module
 */
import type { Daemon } from "../daemon/daemon.ts";
import { parseIp } from "../util/ip.ts";
import type { DecoyHooks } from "./decoys.ts";

export { Decoys } from "./decoys.ts";

/** The hooks a daemon's decoys report to. */
export function decoyHooks(daemon: Daemon): DecoyHooks {
  return {
    count: (name) => daemon.count(name),
    onHit: (ip) => {
      const addr = parseIp(ip);
      if (addr) daemon.defense.failed(addr, "decoy", true);
    },
    banned: (ip) => {
      const addr = parseIp(ip);
      return addr !== undefined && daemon.defense.gate.banOf(addr, Date.now()) !== undefined;
    },
  };
}

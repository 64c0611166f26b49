/**
 * Lint of the decoy ports (issue 17) against everything else that uses a port: a UDP
 * (`random`) decoy on a server's listen port or in its hopping range, a decoy on a port the
 * knock rules drop (it would never be reached), and two decoys on one socket are errors at
 * the decoy's `listen`, so `check` says what a start would otherwise fail to bind.
 * @module
 */
import type { Config } from "./schema.ts";
import type { Reporter } from "./lint_reporter.ts";
import { formatIp, type ListenAddress, parseIp } from "../util/ip.ts";

/** True when binding `a` and `b` (same protocol) would take the same socket address. */
function sameSocket(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port !== b.port || a.family !== b.family) return false;
  const x = parseIp(a.host);
  const y = parseIp(b.host);
  if (!x || !y) return a.host === b.host;
  return x.value === 0n || y.value === 0n || x.value === y.value;
}

/** True when hosts `a` and `b` (same family) overlap: equal or either a wildcard. */
function sameHost(a: ListenAddress, b: ListenAddress): boolean {
  return sameSocket(a, { ...b, port: a.port });
}

function show(l: ListenAddress): string {
  const ip = parseIp(l.host);
  const host = ip ? formatIp(ip) : l.host;
  return `${l.family === 6 ? `[${host}]` : host}:${l.port}`;
}

/** Adds the decoy port findings of `config` to `r`. */
export function checkDecoys(r: Reporter, config: Config): void {
  const seen: { proto: "tcp" | "udp"; l: ListenAddress; path: PropertyKey[] }[] = [];
  config.decoys.ports.forEach((d, j) => {
    const path = ["decoys", "ports", j, "listen"];
    const proto = d.type === "random" ? "udp" : "tcp";
    for (const l of d.listen) {
      const what = `${proto} ${show(l)}`;
      const error = (message: string, code: string) => r.error(path, message, code);
      const twin = seen.find((e) => e.proto === proto && sameSocket(e.l, l));
      if (twin) {
        error(`${what} is already a decoy at ${r.where(twin.path)}`, "decoy_conflict");
        return;
      }
      seen.push({ proto, l, path });
      let clash = false;
      config.servers.forEach((s, i) => {
        if (!s.enabled || clash) return;
        if (proto === "udp") {
          const k = s.listen.findIndex((x) => sameSocket(x, l));
          if (k >= 0 && !s.port_hopping) {
            const at = ["servers", i, "listen", s.listen[k].entry ?? k];
            error(`${what} is the listen port of ${r.where(at)}`, "decoy_conflict");
            clash = true;
            return;
          }
          const h = s.port_hopping;
          if (
            h && l.port >= h.range[0] && l.port <= h.range[1] &&
            s.listen.some((x) => sameHost(x, l))
          ) {
            const at = ["servers", i, "port_hopping", "range"];
            error(
              `${what} is in ${r.where(at)}: the server may listen there in some period`,
              "decoy_conflict",
            );
            clash = true;
            return;
          }
        }
        const k = s.knock;
        if (!k || k.proto !== proto) return;
        const dropped = k.ports
          ? k.ports.includes(l.port)
          : l.port >= k.derived!.range[0] && l.port <= k.derived!.range[1];
        if (dropped) {
          const at = ["servers", i, "knock", k.ports ? "ports" : "derived"];
          error(
            `${what} is a knock port of ${r.where(at)}: the knock rules drop what is sent to it`,
            "decoy_conflict",
          );
          clash = true;
        }
      });
      if (clash) return;
    }
  });
}

/**
 * Lint of the stealth settings (issue 17): what the schema cannot see across fields.
 * A static knock sequence is a warning (anyone who sees it can repeat it); knock ports or a
 * derived range that hold one of the server's own ports (its listen ports, or with
 * `port_hopping` its hopping range) are errors (the rules would drop its requests as knocks).
 * @module
 */
import type { Config } from "./schema.ts";
import type { Reporter } from "./lint_reporter.ts";
import { checkDecoys } from "./lint_decoys.ts";

/** Adds the stealth findings of `config` to `r` (decoy ports: `lint_decoys.ts`). */
export function checkStealth(r: Reporter, config: Config): void {
  checkDecoys(r, config);
  config.servers.forEach((s, i) => {
    const k = s.knock;
    const own = new Set(s.listen.map((l) => l.port));
    if (k?.ports) {
      r.warn(
        ["servers", i, "knock", "ports"],
        "a static knock sequence can be repeated by anyone who sees it once (on the path, " +
          "or in a capture): prefer derived",
        "knock_static",
      );
      const clash = k.ports.find((p) => own.has(p));
      if (clash !== undefined) {
        r.error(
          ["servers", i, "knock", "ports"],
          `port ${clash} is the server's own`,
          "knock_port",
        );
      }
    }
    const d = k?.derived;
    if (d) {
      const clash = [...own].find((p) => p >= d.range[0] && p <= d.range[1]);
      if (clash !== undefined) {
        r.error(
          ["servers", i, "knock", "derived", "range"],
          `the range holds the server's own port ${clash}`,
          "knock_port",
        );
      }
    }
    const h = s.port_hopping;
    if (k && h) {
      // The hopping port must never be a knock port (the rules would take requests for knocks).
      const inHop = (p: number) => p >= h.range[0] && p <= h.range[1];
      const clash = k.ports
        ? k.ports.find(inHop)
        : (d && d.range[0] <= h.range[1] && h.range[0] <= d.range[1] ? d.range[0] : undefined);
      if (clash !== undefined) {
        r.error(
          ["servers", i, "knock", k.ports ? "ports" : "derived"],
          k.ports
            ? `port ${clash} is in port_hopping.range: the server may listen there`
            : "the range overlaps port_hopping.range: the server may listen there",
          "knock_port",
        );
      }
    }
  });
}

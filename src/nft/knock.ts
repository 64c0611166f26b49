/**
 * The kernel side of knock sequences: table `inet siglatch_knock`, one chain at input
 * priority -20 and, per guarded server, per sequence and per address family, one set per
 * stage (timeout: the knock window) plus one set of sources that finished (timeout: how
 * long they may then send requests). A knock on port k+1 moves a source from stage k's set
 * to the next; a knock on any other port of the knock space takes it out of stage k; the
 * server's own ports are dropped for every source not in the finished set. All knocks are
 * dropped (no ICMP or RST tells a scanner anything).
 *
 * Entering stage 1 is rate-limited, because a set element added or deleted from the packet
 * path can cost the kernel up to ~0.1 ms when the same sources churn
 * (bench/knock_mode_bench.ts), and every later change of a source's state (a move, a reset)
 * needs an entry first: per source (a meter of at most
 * {@linkcode METER_SIZE} addresses, {@linkcode SOURCE_RATE}/s) and then per guard (one
 * named limit shared by all its sequences and both families, {@linkcode ENTRY_RATE}/s). So
 * a flood of wrong knocks cannot make the kernel change more than a fixed number of
 * elements per second. Pure: callers pass plain ports and timeouts and run the script
 * through `knock_apply.ts`.
 * @module
 */

/** Table that holds the knock state. */
export const KNOCK_TABLE = "siglatch_knock";
/** Most sequences one guard may hold (users × 1 for derived, 1 for static). */
export const MAX_SEQUENCES = 256;

/** Stage-1 entries per second one guard admits (all sources, both families). */
export const ENTRY_RATE = 50;
/** Stage-1 entries per second one source may make (burst {@linkcode SOURCE_BURST}). */
export const SOURCE_RATE = 2;
/** Burst of {@linkcode SOURCE_RATE}. */
export const SOURCE_BURST = 5;
/** Most sources the per-source meter tracks per family (when full: only the guard's limit). */
export const METER_SIZE = 4096;
/** A source leaves the meter after this long without a first knock. */
const METER_TIMEOUT = "60s";

/** One server guarded by knocks. */
export interface KnockGuardRules {
  /** Short id used in set names (letters, digits, `_`). */
  id: string;
  /** The server's own UDP ports, dropped unless the source knocked. */
  serverPorts: number[];
  /** Knocks are UDP datagrams or TCP SYNs. */
  proto: "udp" | "tcp";
  /** Every port a knock may use (a knock elsewhere is not a knock): list or [lo, hi]. */
  space: { ports: number[] } | { range: [number, number] };
  /** Sequences (each: distinct ports, in order). */
  sequences: { id: string; ports: number[] }[];
  /** Longest wait between two knocks, ms. */
  windowMs: number;
  /** How long a source that knocked stays allowed, ms. */
  openMs: number;
}

const FAMILIES = [
  { tag: "4", saddr: "ip saddr", type: "ipv4_addr" },
  { tag: "6", saddr: "ip6 saddr", type: "ipv6_addr" },
] as const;

const SAFE_ID = /^[A-Za-z0-9_]{1,24}$/;

function seconds(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

function portSet(ports: readonly number[]): string {
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`bad port ${p}`);
  }
  return ports.length === 1 ? String(ports[0]) : `{ ${ports.join(", ")} }`;
}

/** The name of the finished set of guard `id` for family `tag`. */
export function okSetName(id: string, tag: "4" | "6"): string {
  return `${id}_ok_${tag}`;
}

/** The per-source entry meter of guard `id` for family `tag`. */
function meterName(id: string, tag: string): string {
  return `${id}_m_${tag}`;
}

/** The guard's named limit on stage-1 entries. */
function entryLimitName(id: string): string {
  return `${id}_entry`;
}

/** Set names a guard uses (to declare them before rules refer to them). */
function stageSet(g: KnockGuardRules, q: { id: string }, k: number, tag: string): string {
  return `${g.id}_${q.id}_s${k}_${tag}`;
}

/** Declarations of every set (idempotent: `add` of an identical set is a no-op). */
export function knockSetsScript(guards: readonly KnockGuardRules[]): string {
  const t = `inet ${KNOCK_TABLE}`;
  const out = [`add table ${t}`];
  for (const g of guards) {
    check(g);
    out.push(
      `add limit ${t} ${entryLimitName(g.id)} { rate over ${ENTRY_RATE}/second ` +
        `burst ${ENTRY_RATE} packets }`,
    );
    for (const f of FAMILIES) {
      out.push(
        `add set ${t} ${meterName(g.id, f.tag)} { type ${f.type}; flags dynamic, timeout; ` +
          `timeout ${METER_TIMEOUT}; size ${METER_SIZE}; }`,
      );
      out.push(
        `add set ${t} ${okSetName(g.id, f.tag)} { type ${f.type}; flags dynamic, timeout; ` +
          `timeout ${seconds(g.openMs)}; size 65536; }`,
      );
      for (const q of g.sequences) {
        for (let k = 1; k < q.ports.length; k++) {
          out.push(
            `add set ${t} ${stageSet(g, q, k, f.tag)} { type ${f.type}; flags dynamic, timeout; ` +
              `timeout ${seconds(g.windowMs)}; size 65536; }`,
          );
        }
      }
    }
  }
  return out.join("\n") + "\n";
}

function check(g: KnockGuardRules): void {
  if (!SAFE_ID.test(g.id)) throw new RangeError(`bad guard id ${g.id}`);
  if (g.sequences.length > MAX_SEQUENCES) {
    throw new RangeError(`more than ${MAX_SEQUENCES} knock sequences on one server`);
  }
  for (const q of g.sequences) {
    if (!SAFE_ID.test(q.id)) throw new RangeError(`bad sequence id ${q.id}`);
    if (q.ports.length === 0 || new Set(q.ports).size !== q.ports.length) {
      throw new RangeError(`sequence ${q.id}: ports must be distinct`);
    }
  }
}

/**
 * The whole chain: declares table, chain and sets, then replaces the chain's rules in the
 * same transaction (sets and their members survive: a source halfway through keeps its
 * stage when the rules are rewritten for a new window).
 */
export function knockRulesScript(guards: readonly KnockGuardRules[]): string {
  const t = `inet ${KNOCK_TABLE}`;
  const out = [
    knockSetsScript(guards).trimEnd(),
    `add chain ${t} input { type filter hook input priority -20; policy accept; }`,
    `flush chain ${t} input`,
  ];
  const rule = (r: string) => out.push(`add rule ${t} input ${r}`);
  for (const g of guards) {
    const knock = g.proto === "udp" ? "udp dport" : "tcp flags & (syn | ack) == syn tcp dport";
    const space = "ports" in g.space
      ? portSet(g.space.ports)
      : `${g.space.range[0]}-${g.space.range[1]}`;
    for (const f of FAMILIES) {
      const ok = okSetName(g.id, f.tag);
      // The server's ports: only for sources that finished a sequence.
      rule(`udp dport ${portSet(g.serverPorts)} ${f.saddr} @${ok} accept`);
      rule(
        `meta nfproto ${f.tag === "4" ? "ipv4" : "ipv6"} udp dport ` +
          `${portSet(g.serverPorts)} drop`,
      );
      for (const q of g.sequences) {
        const L = q.ports.length;
        // A knock on a wrong port of the space: back to the start. Stage 1 keeps a source
        // that knocks the first port again (the rule below refreshes it): deleting and
        // re-adding one element of one set in one packet costs the kernel ~90 µs, which
        // made a flood of first knocks 14× dearer than any other (bench/knock_mode_bench.ts).
        for (let k = 1; k < L; k++) {
          const s = stageSet(g, q, k, f.tag);
          const keep = k === 1 ? portSet([q.ports[1], q.ports[0]]) : String(q.ports[k]);
          rule(
            `${f.saddr} @${s} ${knock} ${space} ${knock} != ${keep} ` +
              `delete @${s} { ${f.saddr} }`,
          );
        }
        // Forward, last stage first (so one packet moves a source one stage only).
        for (let k = L - 1; k >= 1; k--) {
          const s = stageSet(g, q, k, f.tag);
          const next = k + 1 < L ? stageSet(g, q, k + 1, f.tag) : ok;
          rule(
            `${f.saddr} @${s} ${knock} ${q.ports[k]} delete @${s} { ${f.saddr} } ` +
              `update @${next} { ${f.saddr} }`,
          );
        }
        const first = L > 1 ? stageSet(g, q, 1, f.tag) : ok;
        // Entering stage 1 (a source already there is only refreshed): per source, then
        // per guard; over either, the knock is dropped and changes nothing.
        const enter = `${f.saddr} != @${first} ${knock} ${q.ports[0]}`;
        rule(
          `${enter} update @${meterName(g.id, f.tag)} { ${f.saddr} limit rate over ` +
            `${SOURCE_RATE}/second burst ${SOURCE_BURST} packets } counter drop`,
        );
        rule(`${enter} limit name "${entryLimitName(g.id)}" counter drop`);
        rule(
          `meta nfproto ${f.tag === "4" ? "ipv4" : "ipv6"} ${knock} ${q.ports[0]} ` +
            `update @${first} { ${f.saddr} } counter`,
        );
      }
    }
    // Knocks get no answer at all.
    rule(`${knock} ${space} drop`);
  }
  return out.join("\n") + "\n";
}

/** Removes the whole knock table (ignore "No such file" when it is gone already). */
export function knockTeardownScript(): string {
  return `delete table inet ${KNOCK_TABLE}\n`;
}

/**
 * Cost of the source gate per datagram (`deno bench bench/ratelimit_bench.ts`):
 * from a banned source, from an unknown source (new each time, table full so every call
 * evicts), from a known source, and a failure report. Also prints the memory per tracked
 * source for 1,000,000 IPv4 and IPv6 sources (more exact with `--v8-flags=--expose-gc`).
 */
import { RateLimitSchema } from "../src/config/schema.ts";
import { type IpAddress, parseIp } from "../src/util/ip.ts";
import { SourceGate } from "../src/policy/ratelimit.ts";

const T0 = 1_700_000_000_000;
// From 203.0.0.0 up: above 2^30, so keys are heap numbers as most real IPv4 keys are.
const v4 = (i: number): IpAddress => ({ family: 4, value: BigInt(0xcb000000 + (i >>> 0)) });
const v6 = (i: number): IpAddress => ({
  family: 6,
  value: (0x20010db8n << 96n) | (BigInt(i) << 64n) | 1n,
});

function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Bytes per tracked source (V8 heap + typed arrays) after inserting `n` sources. */
function bytesPerSource(n: number, make: (i: number) => IpAddress): number {
  const gate = new SourceGate(RateLimitSchema.parse({ max_tracked_sources: n }));
  collect();
  const before = Deno.memoryUsage();
  for (let i = 0; i < n; i++) gate.admit(make(i), T0 + i);
  collect();
  const after = Deno.memoryUsage();
  if (gate.tracked !== n) throw new Error("not all tracked");
  return (after.heapUsed - before.heapUsed + after.external - before.external) / n;
}

const N = 1_000_000;
bytesPerSource(50_000, v4); // warm up the code paths so compilation is not counted
bytesPerSource(50_000, v6);
console.log(
  `memory per tracked source (${N} sources${
    "gc" in globalThis ? "" : ", no --expose-gc: approximate"
  }): ` +
    `IPv4 ${bytesPerSource(N, v4).toFixed(1)} B, IPv6 /64 ${bytesPerSource(N, v6).toFixed(1)} B`,
);

// A banned source.
const bannedGate = new SourceGate(RateLimitSchema.parse({ fail_burst: 1, ban_time: "1h" }));
const banned = parseIp("198.51.100.66")!;
for (let i = 0; i < 3; i++) bannedGate.failed(banned, T0, "bad_mac1", true);
if (bannedGate.admit(banned, T0).ok) throw new Error("not banned");
const banned6 = parseIp("2001:db8:66::1")!;
for (let i = 0; i < 3; i++) bannedGate.failed(banned6, T0, "bad_mac1", true);

Deno.bench("admit: banned IPv4 source", { group: "admit", baseline: true }, () => {
  bannedGate.admit(banned, T0 + 1);
});

Deno.bench("admit: banned IPv6 /64 source", { group: "admit" }, () => {
  bannedGate.admit(banned6, T0 + 1);
});

// Unknown sources: a new address every call, table full (100k), so each call also evicts.
const fullGate = new SourceGate(RateLimitSchema.parse({ max_tracked_sources: 100_000 }));
for (let i = 0; i < 100_000; i++) fullGate.admit(v4(i), T0);
let next = 100_000;
let clock = T0;
Deno.bench("admit: unknown IPv4 source (table full, evicts)", { group: "admit" }, () => {
  fullGate.admit(v4(next++), clock++);
});

let next6 = 0;
Deno.bench("admit: unknown IPv6 source (table full, evicts)", { group: "admit" }, () => {
  fullGate.admit(v6(next6++), clock++);
});

// A known source within its rate.
const knownGate = new SourceGate(
  RateLimitSchema.parse({ per_source_rate: 1e9, per_source_burst: 1e9 }),
);
const known = parseIp("203.0.113.5")!;
let t = T0;
Deno.bench("admit: known IPv4 source", { group: "admit" }, () => {
  knownGate.admit(known, t++);
});

// A failure report (no ban: huge failure budget).
const failGate = new SourceGate(RateLimitSchema.parse({ fail_rate: 1e9, fail_burst: 1e9 }));
let tf = T0;
Deno.bench("failed: report from a known source", { group: "failed" }, () => {
  failGate.failed(known, tf++, "bad_mac1", true);
});

// For scale: what the daemon pays to parse the source address text.
Deno.bench("parseIp(hostname) (daemon side, for scale)", { group: "parse" }, () => {
  parseIp("198.51.100.66");
});

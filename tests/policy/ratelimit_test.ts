/**
 * SourceGate: buckets, bans with backoff, permanent bans, static lists, IPv6 grouping,
 * bounded tables, pressure mode and fairness under a flood. Pure: the clock is a number.
 */
import assert from "node:assert/strict";
import { RateLimitSchema } from "../../src/config/schema.ts";
import { type IpAddress, parseIp } from "../../src/util/ip.ts";
import { parseSource, SourceGate } from "../../src/policy/ratelimit.ts";

const cfg = (over: Record<string, unknown> = {}) => RateLimitSchema.parse(over);
const ip = (text: string): IpAddress => parseIp(text)!;
/** A distinct IPv4 address for every i (from 10.0.0.0 up). */
const v4 = (i: number): IpAddress => ({ family: 4, value: BigInt(0x0a000000 + i) });
const T0 = 1_700_000_000_000;

/** Fails `ip` until a ban comes out; returns it and how many failures it took. */
function failUntilBan(gate: SourceGate, src: IpAddress, now: number, max = 1000) {
  for (let i = 1; i <= max; i++) {
    const ban = gate.failed(src, now, "bad_mac1", true);
    if (ban) return { ban, failures: i };
  }
  throw new Error("no ban");
}

Deno.test("a source is banned once it exceeds its failure budget, and only then", () => {
  const gate = new SourceGate(cfg({ fail_burst: 5, fail_rate: 1, ban_time: "60s" }));
  const src = ip("198.51.100.7");
  assert.deepEqual(gate.admit(src, T0), { ok: true });
  const { ban, failures } = failUntilBan(gate, src, T0);
  assert.equal(failures, 5); // the failure that empties the 5-failure budget bans
  assert.equal(ban.source, "198.51.100.7");
  assert.equal(ban.reason, "bad_mac1");
  assert.equal(ban.until, T0 + 60_000);
  assert.equal(ban.count, 1);
  assert.deepEqual(gate.admit(src, T0 + 1), { ok: false, reason: "banned" });
  assert.equal(gate.counters.drop_banned, 1);
  assert.equal(gate.counters.bans_temporary, 1);
  // Others are untouched.
  assert.deepEqual(gate.admit(ip("198.51.100.8"), T0 + 1), { ok: true });
  // Failures spread over time refill the budget: one per second never bans.
  const slow = ip("198.51.100.9");
  for (let s = 0; s < 100; s++) assert.equal(gate.failed(slow, T0 + s * 1000, "x", true), null);
});

Deno.test("bans expire, and repeated bans grow by the backoff up to ban_max", () => {
  const gate = new SourceGate(
    cfg({ fail_burst: 2, fail_rate: 1, ban_time: "10s", ban_backoff: 3, ban_max: "100s" }),
  );
  const src = ip("203.0.113.5");
  let now = T0;
  const durations: number[] = [];
  for (let round = 0; round < 5; round++) {
    const { ban } = failUntilBan(gate, src, now);
    durations.push(ban.until! - now);
    assert.equal(ban.count, round + 1);
    assert.equal(gate.admit(src, ban.until! - 1).ok, false);
    now = ban.until!; // expired exactly at `until`
    assert.deepEqual(gate.admit(src, now), { ok: true });
  }
  assert.deepEqual(durations, [10_000, 30_000, 90_000, 100_000, 100_000]);
  // After ban_max past the end the history is swept: the next ban starts over.
  gate.sweep(now + 100_000);
  const { ban } = failUntilBan(gate, src, now + 100_000);
  assert.equal(ban.count, 1);
  assert.equal(ban.until! - (now + 100_000), 10_000);
});

Deno.test("after permanent_after temporary bans the next ban is permanent", () => {
  const gate = new SourceGate(cfg({ fail_burst: 1, ban_time: "1s", permanent_after: 2 }));
  const src = ip("192.0.2.66");
  let now = T0;
  const kinds: (number | null)[] = [];
  for (let i = 0; i < 3; i++) {
    const { ban } = failUntilBan(gate, src, now);
    kinds.push(ban.until);
    if (ban.until !== null) now = ban.until;
  }
  assert.notEqual(kinds[0], null);
  assert.notEqual(kinds[1], null);
  assert.equal(kinds[2], null);
  assert.equal(gate.counters.bans_permanent, 1);
  assert.equal(gate.admit(src, now + 365 * 86_400_000).ok, false);
  assert.equal(gate.bans(now + 365 * 86_400_000).length, 1);
});

Deno.test("permanent_after 0 never makes a permanent ban", () => {
  const gate = new SourceGate(cfg({ fail_burst: 1, ban_time: "1s", ban_max: "2s" }));
  const src = ip("192.0.2.67");
  let now = T0;
  for (let i = 0; i < 20; i++) {
    const { ban } = failUntilBan(gate, src, now);
    assert.notEqual(ban.until, null);
    now = ban.until!;
  }
});

Deno.test("allow list is never banned; deny list is always dropped", () => {
  const gate = new SourceGate(cfg({
    fail_burst: 1,
    allow: ["10.1.0.0/16", "2001:db8:aaaa::/48"],
    deny: ["192.0.2.0/24", "2001:db8:dead::/48"],
  }));
  for (const text of ["10.1.2.3", "2001:db8:aaaa:1::5"]) {
    const src = ip(text);
    for (let i = 0; i < 10_000; i++) assert.equal(gate.failed(src, T0, "bad_mac1", true), null);
    assert.equal(gate.admit(src, T0 + 1000).ok, true);
  }
  assert.equal(gate.counters.failures_allowed, 20_000);
  for (const text of ["192.0.2.1", "192.0.2.254", "2001:db8:dead:beef::1"]) {
    assert.deepEqual(gate.admit(ip(text), T0), { ok: false, reason: "denied" });
  }
  assert.equal(gate.counters.drop_denied, 3);
  assert.equal(gate.tracked, 2, "denied sources take no table space");
});

Deno.test("IPv6 sources are grouped by /64 (configurable)", () => {
  const gate = new SourceGate(cfg({ fail_burst: 3 }));
  const { ban } = failUntilBan(gate, ip("2001:db8:1:2::1"), T0);
  assert.equal(ban.source, "2001:db8:1:2::/64");
  assert.equal(ban.family, 6);
  assert.equal(gate.admit(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), T0).ok, false);
  assert.equal(gate.admit(ip("2001:db8:1:3::1"), T0).ok, true);
  // A rate limit counts the whole /64 together.
  const rate = new SourceGate(cfg({ per_source_rate: 1, per_source_burst: 4 }));
  let ok = 0;
  for (let i = 1; i <= 10; i++) if (rate.admit(ip(`2001:db8:9:9::${i}`), T0).ok) ok++;
  assert.equal(ok, 4);
  // /56 grouping.
  const g56 = new SourceGate(cfg({ fail_burst: 1, ipv6_prefix: 56 }));
  const b56 = failUntilBan(g56, ip("2001:db8:1:2ff::1"), T0).ban;
  assert.equal(b56.source, "2001:db8:1:200::/56");
  assert.equal(g56.admit(ip("2001:db8:1:2aa::7"), T0).ok, false);
  // IPv4-mapped IPv6 is the IPv4 source.
  assert.equal(new SourceGate(cfg()).admit(ip("::ffff:192.0.2.1"), T0).ok, true);
});

Deno.test("per-source token bucket: burst, then the rate", () => {
  const gate = new SourceGate(cfg({ per_source_rate: 10, per_source_burst: 20 }));
  const src = ip("198.51.100.1");
  let ok = 0;
  for (let i = 0; i < 100; i++) if (gate.admit(src, T0).ok) ok++;
  assert.equal(ok, 20);
  assert.deepEqual(gate.admit(src, T0), { ok: false, reason: "rate" });
  ok = 0;
  for (let i = 0; i < 100; i++) if (gate.admit(src, T0 + 1000).ok) ok++;
  assert.equal(ok, 10);
});

Deno.test("parseSource: canonical text, IPv6 widened to the prefix, clear errors", () => {
  assert.deepEqual(parseSource("192.0.2.7", 64), { key: 0xc0000207, text: "192.0.2.7", family: 4 });
  assert.equal((parseSource("192.0.2.7/32", 64) as { text: string }).text, "192.0.2.7");
  assert.equal((parseSource("2001:db8::1", 64) as { text: string }).text, "2001:db8::/64");
  assert.equal((parseSource("2001:db8::/64", 64) as { text: string }).text, "2001:db8::/64");
  assert.match(parseSource("nope", 64) as string, /not an IP address/);
  assert.match(parseSource("10.0.0.0/8", 64) as string, /per address/);
  assert.match(parseSource("2001:db8::/48", 64) as string, /per \/64/);
  assert.match(parseSource("300.1.1.1", 64) as string, /not an IP address/);
});

Deno.test("tracking table stays under its cap with 200k sources; bans are never evicted", () => {
  const cap = 10_000;
  const gate = new SourceGate(cfg({ max_tracked_sources: cap, fail_burst: 2, ban_time: "1h" }));
  // Ban 500 sources first.
  const banned: IpAddress[] = [];
  for (let i = 0; i < 500; i++) {
    const src = v4(1_000_000 + i);
    failUntilBan(gate, src, T0);
    banned.push(src);
  }
  // 200k distinct sources, one datagram and one failure each, over 100 s.
  for (let i = 0; i < 200_000; i++) {
    const now = T0 + Math.floor(i / 2000) * 1000;
    gate.admit(v4(i), now);
    gate.failed(v4(i), now, "bad_mac1", true);
    assert.ok(gate.tracked <= cap);
  }
  assert.equal(gate.tracked, cap);
  assert.ok(gate.counters.evicted_idle + gate.counters.evicted_active >= 190_000);
  for (const src of banned) {
    assert.deepEqual(gate.admit(src, T0 + 200_000), { ok: false, reason: "banned" });
  }
  assert.equal(gate.bans(T0 + 200_000).length, 500);
});

Deno.test("ban table is bounded: full of active bans, new bans are refused and counted", () => {
  const gate = new SourceGate(cfg({ max_bans: 100, fail_burst: 1, fail_rate: 1, ban_time: "1h" }));
  for (let i = 0; i < 150; i++) {
    for (let k = 0; k < 5; k++) gate.failed(v4(i), T0, "bad_mac1", true);
  }
  assert.equal(gate.banRecords, 100);
  assert.equal(gate.counters.bans_temporary, 100);
  assert.ok(gate.counters.bans_refused_full >= 50);
  for (let i = 0; i < 100; i++) assert.equal(gate.admit(v4(i), T0 + 1).ok, false);
  // A refused source is still held to its failure budget: dropped before crypto, as "rate".
  const refused = v4(120);
  assert.deepEqual(gate.admit(refused, T0 + 1), { ok: false, reason: "rate" });
  assert.ok(gate.counters.drop_fail_budget >= 1);
  // After the bans end their histories make room again (swept at most once a second).
  const later = T0 + 3_600_000 + 1000;
  const { ban } = failUntilBan(gate, v4(500), later);
  assert.equal(ban.count, 1);
  assert.ok(gate.banRecords <= 100);
});

Deno.test("a proven source is not banned by spoofed garbage and skips pressure", () => {
  const gate = new SourceGate(cfg({ fail_burst: 2, pressure_fail_rate: 100 }));
  const user = ip("198.51.100.50");
  assert.equal(gate.admit(user, T0).ok, true);
  gate.succeeded(user, T0);
  for (let i = 0; i < 1000; i++) assert.equal(gate.failed(user, T0 + 10, "bad_mac1", true), null);
  assert.equal(gate.counters.failures_proven, 999); // 1 taken from the budget first
  assert.equal(gate.pressure, true);
  assert.equal(gate.admit(user, T0 + 20).ok, true);
  // Once proven_ttl passed, it is an ordinary source again.
  const late = T0 + 3_600_000 + 1;
  const { ban } = failUntilBan(gate, user, late);
  assert.equal(ban.source, "198.51.100.50");
});

Deno.test("under pressure a new source that authenticates may answer its challenge at once", () => {
  const gate = new SourceGate(cfg({ pressure_fail_rate: 100, fail_burst: 2 }));
  for (let i = 0; i < 1000; i++) gate.failed(v4(20_000 + i), T0 + i / 10, "bad_mac1", true);
  assert.equal(gate.pressure, true);
  const user = ip("198.51.100.60");
  const other = ip("198.51.100.61");
  assert.deepEqual(gate.admit(user, T0 + 200), { ok: true }); // the request: whole bucket
  assert.deepEqual(gate.admit(other, T0 + 200), { ok: true });
  gate.succeeded(user, T0 + 201); // it authenticated; the daemon answers with a cookie
  assert.deepEqual(gate.admit(user, T0 + 203), { ok: true }, "the resend with the cookie");
  assert.deepEqual(gate.admit(other, T0 + 203), { ok: false, reason: "pressure" });
  // The refill happens when a source becomes proven, not on every success.
  let admitted = 0;
  for (let i = 0; i < 1000; i++) {
    if (gate.admit(user, T0 + 204).ok) {
      admitted++;
      gate.succeeded(user, T0 + 204);
    }
  }
  assert.ok(admitted < 1000, `an authenticated source stays rate-limited (${admitted})`);
});

Deno.test("pressure mode enters above pressure_fail_rate and leaves after it calms", () => {
  const gate = new SourceGate(cfg({ pressure_fail_rate: 1000, fail_burst: 20 }));
  // 500 failures/s from 100 sources: below the threshold.
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < 500; i++) gate.failed(v4(i % 100), T0 + s * 1000 + i, "bad_mac1", true);
  }
  assert.equal(gate.pressure, false);
  // 5000 failures within one second.
  const t1 = T0 + 10_000;
  for (let i = 0; i < 5000; i++) {
    gate.failed(v4(10_000 + i), t1 + (i % 1000) / 10, "bad_mac1", true);
  }
  assert.equal(gate.pressure, true);
  assert.equal(gate.counters.pressure_entered, 1);
  // Unproven sources get a small budget: a new one gets one datagram, then pressure drops.
  const fresh = v4(999_999);
  assert.deepEqual(gate.admit(fresh, t1 + 200), { ok: true });
  assert.deepEqual(gate.admit(fresh, t1 + 200), { ok: false, reason: "pressure" });
  // A source known from before had a full bucket: 100 tokens / 50 per datagram = 2.
  const known = v4(50);
  assert.deepEqual(gate.admit(known, t1 + 300), { ok: true });
  assert.deepEqual(gate.admit(known, t1 + 300), { ok: true });
  assert.deepEqual(gate.admit(known, t1 + 300), { ok: false, reason: "pressure" });
  // ...and one more per second (pressure_source_rate 1).
  assert.deepEqual(gate.admit(fresh, t1 + 1200), { ok: true });
  // Quiet: still held for 5 s after the rate was last high, then left.
  assert.equal(gate.pressure, true);
  gate.admit(fresh, t1 + 4000);
  assert.equal(gate.pressure, true);
  gate.admit(fresh, t1 + 8000);
  assert.equal(gate.pressure, false);
  assert.equal(gate.counters.pressure_left, 1);
  const snap = gate.snapshot(t1 + 8000);
  assert.equal(snap.pressure, 0);
  assert.equal(snap.pressure_entered, 1);
});

/**
 * Floods from 100k sources, each sending `perSource` garbage datagrams a second, while a
 * good user knocks once a second and authenticates; a newcomer knocks at the end.
 */
function flood(gate: SourceGate, seconds: number, perSource: number) {
  const good = ip("203.0.113.200");
  let goodOk = 0, goodTried = 0, floodAdmitted = 0, floodSent = 0;
  for (let s = 0; s < seconds; s++) {
    const base = T0 + s * 1000;
    for (let i = 0; i < 100_000; i++) {
      const src = v4(i);
      const now = base + Math.floor(i / 100);
      for (let k = 0; k < perSource; k++) {
        floodSent++;
        if (gate.admit(src, now).ok) {
          floodAdmitted++;
          gate.failed(src, now, "bad_mac1", true);
        }
      }
      if (i === 50_000) {
        goodTried++;
        if (gate.admit(good, now).ok) {
          goodOk++;
          gate.succeeded(good, now);
        }
      }
    }
  }
  const newcomer = gate.admit(ip("203.0.113.201"), T0 + seconds * 1000 + 500);
  return { goodOk, goodTried, floodAdmitted, floodSent, newcomer };
}

Deno.test("fairness: a good source keeps getting through while 100k sources flood", () => {
  const gate = new SourceGate(cfg({ max_tracked_sources: 200_000 }));
  const r = flood(gate, 6, 10);
  assert.equal(r.goodOk, r.goodTried, "the good source was never dropped");
  assert.deepEqual(r.newcomer, { ok: true }, "a new valid user's first knock gets through");
  assert.equal(gate.pressure, true);
  assert.equal(gate.counters.pressure_entered, 1);
  // The flood itself is cut before any crypto: under pressure an unproven source gets
  // pressure_source_rate (1/s) of its 10/s through.
  assert.ok(r.floodAdmitted / r.floodSent < 0.15, `admitted ${r.floodAdmitted} of ${r.floodSent}`);
});

Deno.test("fairness holds when the flood has more sources than the table holds", () => {
  const gate = new SourceGate(cfg({ max_tracked_sources: 50_000 }));
  const r = flood(gate, 10, 3);
  assert.equal(r.goodOk, r.goodTried, "the good source was never dropped");
  assert.deepEqual(r.newcomer, { ok: true });
  assert.ok(gate.tracked <= 50_000);
  // Every eviction hands the attacker one datagram, no more.
  assert.ok(r.floodAdmitted / r.floodSent < 0.4, `admitted ${r.floodAdmitted} of ${r.floodSent}`);
});

Deno.test("reconfigure keeps bans; a changed ipv6_prefix re-keys them", () => {
  const gate = new SourceGate(cfg({ fail_burst: 1 }));
  failUntilBan(gate, ip("2001:db8:5:5::1"), T0);
  failUntilBan(gate, ip("192.0.2.9"), T0);
  gate.reconfigure(cfg({ fail_burst: 1, ipv6_prefix: 48 }));
  assert.equal(gate.admit(ip("192.0.2.9"), T0).ok, false);
  assert.equal(gate.admit(ip("2001:db8:5:ffff::1"), T0).ok, false);
  assert.deepEqual(gate.bans(T0).map((b) => b.source).sort(), ["192.0.2.9", "2001:db8:5::/48"]);
  assert.equal(gate.removeBan("192.0.2.9"), true);
  assert.equal(gate.admit(ip("192.0.2.9"), T0).ok, true);
});

Deno.test("a failure that did not prove its source costs tokens and never bans", () => {
  const gate = new SourceGate(cfg({ fail_burst: 5, per_source_burst: 100, per_source_rate: 1 }));
  const victim = v4(77);
  for (let i = 0; i < 1000; i++) assert.equal(gate.failed(victim, T0, "bad_mac1"), null);
  assert.equal(gate.banOf(victim, T0), undefined, "a forged source is never banned");
  assert.equal(gate.counters.failures_unproven, 1000);
  // 5 unproven failures (100 / 5 = 20 tokens each) empty the bucket: the source is slowed.
  assert.deepEqual(gate.admit(victim, T0), { ok: false, reason: "rate" });
  // The same failures from a source that proved itself (valid mac2) do ban.
  const proven = v4(78);
  let ban = null;
  for (let i = 0; i < 10 && !ban; i++) ban = gate.failed(proven, T0, "bad_auth", true);
  assert.ok(ban, "a proven source that keeps failing is banned");
});

Deno.test("restoreProven: a recently authenticated source is exempt again after a restart", () => {
  const c = cfg({ fail_burst: 2 });
  const before = new SourceGate(c);
  const user = v4(90);
  before.succeeded(user, T0);
  const until = before.provenUntil(user);
  assert.ok(until > T0);
  const after = new SourceGate(c);
  assert.equal(after.restoreProven("10.0.0.90", until, T0 + 10), true);
  assert.equal(after.restoreProven("10.0.0.91", T0, T0 + 10), false, "expired records are skipped");
  assert.equal(after.restoreProven("not an address", until, T0), false);
  for (let i = 0; i < 50; i++) assert.equal(after.failed(user, T0 + 20, "bad_auth", true), null);
  assert.equal(after.banOf(user, T0 + 20), undefined, "exempt from bans, as before the restart");
});

/**
 * The source gate: the first decision for every datagram, taken before any cryptography.
 *
 * Per source (an IPv4 address, or an IPv6 prefix, /64 by default) it keeps two token
 * buckets: one for all datagrams (`per_source_rate`/`per_source_burst`) and one for failed
 * datagrams (`fail_rate`/`fail_burst`). A source that fails more than its failure budget is
 * banned for `ban_time × ban_backoff^n` (capped at `ban_max`); after `permanent_after`
 * temporary bans the next one is permanent.
 *
 * Bounds, so that network input can never grow memory without limit:
 * - the tracking table holds at most `max_tracked_sources` sources in typed arrays, with an
 *   intrusive LRU list; when full, a new source evicts the least recently seen entry,
 *   preferring idle (buckets full again) and unproven ones among the 8 oldest. Bans are NOT in
 *   this table, so eviction can never unban anybody; it can only hand an active flooder a
 *   fresh bucket, which an attacker holding that many addresses already has anyway.
 * - the ban table holds at most `max_bans` records (active bans and expired ones kept as
 *   history for `ban_max` so repeated offenders escalate). When it is full, history is
 *   dropped first (oldest first); when every record is an active ban, the NEW ban is refused
 *   and counted (`bans_refused_full`). A refused source is still held to its failure budget:
 *   while that bucket is empty its datagrams are dropped as `rate` before any crypto, so the
 *   cost it can impose stays bounded at `fail_rate` per second. Nothing is ever unbanned to
 *   make room.
 *
 * Only a datagram that proves its source (a valid mac2: the sender received our cookie at
 * that address) can spend the failure budget and earn a ban. Any other failure only costs
 * its source tokens of the datagram bucket (`per_source_burst / fail_burst` each), so a
 * forged source address can be slowed down but never banned: nobody can frame a user.
 * Sources that authenticated recently (`succeeded`, for `proven_ttl`) are never banned and
 * are exempt from pressure mode; that set is restored from the state store after a restart
 * (`restoreProven`). The static `allow` list is never banned nor squeezed by pressure (it stays
 * subject to the per-source rate); the static `deny` list is always dropped.
 *
 * Pressure mode: when failed datagrams across all sources exceed `pressure_fail_rate` per
 * second (sliding one-second window), every unproven source is limited to
 * `pressure_source_rate` datagrams per second (a burst of at least one), so that valid users,
 * who need a single datagram, still get through a flood from many addresses. It is left when
 * the failure rate falls below half the threshold for 5 s.
 *
 * Pure: no I/O, no timers; the caller passes `now` (epoch ms) to every call.
 * @module
 */
import type { z } from "zod";
import type { RateLimitSchema } from "../config/schema.ts";
import { anyCidrContains, type Cidr, formatIp, type IpAddress, parseCidr } from "../util/ip.ts";

/** The `rate_limit` section of a server, as validated by the config schema. */
export type RateLimitConfig = z.output<typeof RateLimitSchema>;

/** Why the gate dropped a datagram. */
export type DropReason = "banned" | "denied" | "rate" | "pressure";

/** The gate's decision for one datagram. */
export type Verdict = { ok: true } | { ok: false; reason: DropReason };

/** A ban on one source (as persisted, logged and mirrored into nftables). */
export interface Ban {
  /** The source key as text: an IPv4 address (`192.0.2.7`) or an IPv6 prefix (`2001:db8::/64`). */
  source: string;
  /** Address family of the source. */
  family: 4 | 6;
  /** Why (the failure reason that tipped the budget, or an operator's text). */
  reason: string;
  /** When the ban was made (epoch ms). */
  created: number;
  /** When it ends (epoch ms); `null` for a permanent ban. */
  until: number | null;
  /** How many bans this source has had, this one included. */
  count: number;
}

/** The internal map key of a source: a number for IPv4, a string for an IPv6 prefix. */
export type SourceKey = number | string;

/** A parsed source: its map key and its text form. */
export interface ParsedSource {
  /** Map key. */
  key: SourceKey;
  /** Canonical text (`192.0.2.7`, `2001:db8::/64`). */
  text: string;
  /** Address family. */
  family: 4 | 6;
}

/** The map key of the source `ip` belongs to (IPv6 grouped by `ipv6Prefix`). O(1). */
export function sourceKeyOf(ip: IpAddress, ipv6Prefix: number): SourceKey {
  if (ip.family === 4) return Number(ip.value);
  return "6/" + (ip.value >> BigInt(128 - ipv6Prefix)).toString(16);
}

/** The canonical text of the source `ip` belongs to. */
export function sourceTextOf(ip: IpAddress, ipv6Prefix: number): string {
  if (ip.family === 4) return formatIp(ip);
  const shift = BigInt(128 - ipv6Prefix);
  return `${formatIp({ family: 6, value: (ip.value >> shift) << shift })}/${ipv6Prefix}`;
}

/**
 * Parses an operator-given source (`192.0.2.7`, `192.0.2.7/32`, `2001:db8::1`,
 * `2001:db8::/64`) into the source it names. An IPv6 address or a longer prefix is widened
 * to `ipv6Prefix`. Returns an error message for anything else.
 */
export function parseSource(text: string, ipv6Prefix: number): ParsedSource | string {
  const trimmed = text.trim();
  const cidr = parseCidr(trimmed);
  if (!cidr) {
    return `"${text}" is not an IP address: expected e.g. 192.0.2.7 or 2001:db8::1 (or 2001:db8::/${ipv6Prefix})`;
  }
  if (cidr.family === 4) {
    if (cidr.prefix !== 32) {
      return `"${text}": IPv4 bans are per address; give one address (no /${cidr.prefix})`;
    }
  } else if (cidr.prefix < ipv6Prefix) {
    return `"${text}": IPv6 bans are per /${ipv6Prefix} (rate_limit.ipv6_prefix); /${cidr.prefix} is wider`;
  }
  const ip: IpAddress = { family: cidr.family, value: cidr.network };
  return {
    key: sourceKeyOf(ip, ipv6Prefix),
    text: sourceTextOf(ip, ipv6Prefix),
    family: cidr.family,
  };
}

/** Every decision the gate takes, by reason. A plain object; read it, do not write it. */
export interface GateCounters {
  /** Datagrams admitted. */
  admitted: number;
  /** Dropped: source banned. */
  drop_banned: number;
  /** Dropped: source on the static deny list. */
  drop_denied: number;
  /** Dropped: per-source datagram bucket empty. */
  drop_rate: number;
  /** Dropped: source over its failure budget but not banned (ban table full). */
  drop_fail_budget: number;
  /** Dropped: unproven source over its pressure-mode budget. */
  drop_pressure: number;
  /** Failed datagrams reported. */
  failures: number;
  /** Failures from allow-listed sources (never banned). */
  failures_allowed: number;
  /** Failures over budget from proven sources (not banned). */
  failures_proven: number;
  /** Failures of datagrams that did not prove their source: tokens only, never a ban. */
  failures_unproven: number;
  /** Successes reported. */
  successes: number;
  /** Temporary bans made by the gate. */
  bans_temporary: number;
  /** Permanent bans made by the gate. */
  bans_permanent: number;
  /** Bans refused because the ban table was full of active bans. */
  bans_refused_full: number;
  /** Bans added from outside (store, CLI). */
  bans_added: number;
  /** Bans removed from outside. */
  bans_removed: number;
  /** Expired ban histories dropped to make room or by `sweep`. */
  ban_history_dropped: number;
  /** Tracked sources evicted while idle. */
  evicted_idle: number;
  /** Tracked sources evicted while their buckets were not full. */
  evicted_active: number;
  /** Times pressure mode was entered. */
  pressure_entered: number;
  /** Times pressure mode was left. */
  pressure_left: number;
}

function zeroCounters(): GateCounters {
  return {
    admitted: 0,
    drop_banned: 0,
    drop_denied: 0,
    drop_rate: 0,
    drop_fail_budget: 0,
    drop_pressure: 0,
    failures: 0,
    failures_allowed: 0,
    failures_proven: 0,
    failures_unproven: 0,
    successes: 0,
    bans_temporary: 0,
    bans_permanent: 0,
    bans_refused_full: 0,
    bans_added: 0,
    bans_removed: 0,
    ban_history_dropped: 0,
    evicted_idle: 0,
    evicted_active: 0,
    pressure_entered: 0,
    pressure_left: 0,
  };
}

/** The verdict of an admitted datagram (one object: the gate runs per datagram). */
const ADMITTED: Verdict = Object.freeze({ ok: true });
const NIL = -1;
const FLAG_ALLOWED = 1;
/** How many of the oldest entries eviction looks at for an idle, unproven one. */
const EVICT_SCAN = 8;
/** Pressure mode is held at least this long after the failure rate was last high. */
const PRESSURE_HOLD_MS = 5000;
/** The ban table is swept at most this often when it is full. */
const SWEEP_INTERVAL_MS = 1000;

/**
 * Per-source state in parallel typed arrays (one slot per source) with an intrusive
 * doubly linked LRU list; a Map gives key → slot. Grows by doubling up to its cap.
 */
class SourceTable {
  readonly map = new Map<SourceKey, number>();
  keys: SourceKey[] = [];
  tokens = new Float64Array(0);
  fails = new Float64Array(0);
  seen = new Float64Array(0);
  proven = new Float64Array(0);
  prev = new Int32Array(0);
  next = new Int32Array(0);
  flags = new Uint8Array(0);
  head = NIL;
  tail = NIL;
  used = 0;

  #grow(min: number, cap: number): void {
    const size = Math.min(cap, Math.max(1024, this.tokens.length * 2, min));
    const grow = <T extends Float64Array | Int32Array | Uint8Array>(
      a: T,
      make: (n: number) => T,
    ) => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.tokens = grow(this.tokens, (n) => new Float64Array(n));
    this.fails = grow(this.fails, (n) => new Float64Array(n));
    this.seen = grow(this.seen, (n) => new Float64Array(n));
    this.proven = grow(this.proven, (n) => new Float64Array(n));
    this.prev = grow(this.prev, (n) => new Int32Array(n));
    this.next = grow(this.next, (n) => new Int32Array(n));
    this.flags = grow(this.flags, (n) => new Uint8Array(n));
  }

  /** A fresh slot (never reused while occupied). */
  allocate(cap: number): number {
    if (this.used >= this.tokens.length) this.#grow(this.used + 1, cap);
    return this.used++;
  }

  unlink(slot: number): void {
    const p = this.prev[slot], n = this.next[slot];
    if (p === NIL) this.head = n;
    else this.next[p] = n;
    if (n === NIL) this.tail = p;
    else this.prev[n] = p;
  }

  pushFront(slot: number): void {
    this.prev[slot] = NIL;
    this.next[slot] = this.head;
    if (this.head !== NIL) this.prev[this.head] = slot;
    this.head = slot;
    if (this.tail === NIL) this.tail = slot;
  }

  touch(slot: number): void {
    if (this.head === slot) return;
    this.unlink(slot);
    this.pushFront(slot);
  }
}

/**
 * The per-datagram gate: static lists, bans, per-source buckets, pressure mode. O(1) per
 * call (plus a scan of the static `deny` list, which is configuration-sized).
 */
export class SourceGate {
  #cfg!: RateLimitConfig;
  #allow: Cidr[] = [];
  #deny: Cidr[] = [];
  #idleMs = 0;
  #pressureCost = 1;
  #table = new SourceTable();
  readonly #bans = new Map<SourceKey, Ban>();
  #lastSweep = -Infinity;
  #windowStart = 0;
  #windowCount = 0;
  #prevWindowCount = 0;
  #pressureHighAt = -Infinity;
  /** True while pressure mode is on. */
  pressure = false;
  /** Counters for every decision; a plain object. */
  readonly counters: GateCounters = zeroCounters();

  /** Creates a gate for one `rate_limit` config section. */
  constructor(cfg: RateLimitConfig) {
    this.reconfigure(cfg);
  }

  /** The active config. */
  get config(): RateLimitConfig {
    return this.#cfg;
  }

  /**
   * Applies a new config (reload) keeping all state. A smaller `max_tracked_sources` takes
   * effect as new sources arrive; a changed `ipv6_prefix` applies to new IPv6 sources.
   */
  reconfigure(cfg: RateLimitConfig): void {
    this.#allow = [...cfg.allow];
    this.#deny = [...cfg.deny];
    this.#idleMs = 1000 *
      Math.max(cfg.per_source_burst / cfg.per_source_rate, cfg.fail_burst / cfg.fail_rate);
    // Under pressure one unproven datagram costs this many tokens of the normal bucket,
    // so it refills at pressure_source_rate; never more than a full bucket (≥ 1 datagram).
    this.#pressureCost = Math.min(
      cfg.per_source_burst,
      Math.max(1, cfg.per_source_rate / cfg.pressure_source_rate),
    );
    const previous = this.#cfg as RateLimitConfig | undefined;
    this.#cfg = cfg;
    if (previous !== undefined && previous.ipv6_prefix !== cfg.ipv6_prefix) {
      // Keys of IPv6 sources change: start tracking afresh, re-key the bans.
      this.#table = new SourceTable();
      const bans = [...this.#bans.values()];
      this.#bans.clear();
      for (const b of bans) {
        const parsed = parseSource(b.source, cfg.ipv6_prefix);
        if (typeof parsed !== "string") {
          this.#bans.set(parsed.key, { ...b, source: parsed.text });
        }
      }
      return;
    }
    const t = this.#table;
    for (let slot = t.head; slot !== NIL; slot = t.next[slot]) {
      t.flags[slot] = this.#flagsFor(keyToIp(t.keys[slot], cfg.ipv6_prefix));
    }
  }

  /** Sources tracked now. */
  get tracked(): number {
    return this.#table.map.size;
  }

  /** Ban records held (active bans and histories). */
  get banRecords(): number {
    return this.#bans.size;
  }

  /** Counters plus gauges, as a fresh plain object. */
  snapshot(now: number): Record<string, number> {
    let active = 0;
    for (const b of this.#bans.values()) if (b.until === null || b.until > now) active++;
    return {
      ...this.counters,
      tracked_sources: this.tracked,
      ban_records: this.#bans.size,
      bans_active: active,
      pressure: this.pressure ? 1 : 0,
      fail_rate_estimate: Math.round(this.#failRate(now)),
    };
  }

  /** Decides whether a datagram from `ip` may go on to the (costly) checks. */
  admit(ip: IpAddress, now: number): Verdict {
    const c = this.counters;
    if (this.#deny.length > 0 && anyCidrContains(this.#deny, ip)) {
      c.drop_denied++;
      return { ok: false, reason: "denied" };
    }
    const key = sourceKeyOf(ip, this.#cfg.ipv6_prefix);
    if (this.#bans.size > 0) {
      const ban = this.#bans.get(key);
      if (ban !== undefined && (ban.until === null || ban.until > now)) {
        c.drop_banned++;
        return { ok: false, reason: "banned" };
      }
    }
    const t = this.#table;
    const slot = this.#slotFor(key, ip, now);
    const exempt = (t.flags[slot] & FLAG_ALLOWED) !== 0 || t.proven[slot] > now;
    if (!exempt && t.fails[slot] < 1) {
      c.drop_fail_budget++;
      return { ok: false, reason: "rate" };
    }
    if (this.pressure) this.#updatePressure(now);
    if (this.pressure && !exempt) {
      if (t.tokens[slot] < this.#pressureCost) {
        c.drop_pressure++;
        return { ok: false, reason: "pressure" };
      }
      t.tokens[slot] -= this.#pressureCost;
    } else {
      if (t.tokens[slot] < 1) {
        c.drop_rate++;
        return { ok: false, reason: "rate" };
      }
      t.tokens[slot] -= 1;
    }
    c.admitted++;
    return ADMITTED;
  }

  /**
   * Reports a datagram from `ip` that failed a check (bad mac1, did not decrypt, unknown
   * user, bad authenticator, replay…). Returns the ban this failure caused, if any, for the
   * caller to persist, log and mirror.
   */
  failed(ip: IpAddress, now: number, reason: string, sourceProven = false): Ban | null {
    const c = this.counters;
    c.failures++;
    this.#countFailure(now);
    const key = sourceKeyOf(ip, this.#cfg.ipv6_prefix);
    const t = this.#table;
    const slot = this.#slotFor(key, ip, now);
    if ((t.flags[slot] & FLAG_ALLOWED) !== 0) {
      c.failures_allowed++;
      return null;
    }
    if (!sourceProven) {
      // The source address may be forged: charge the source, never ban it.
      c.failures_unproven++;
      const cost = this.#cfg.per_source_burst / this.#cfg.fail_burst;
      t.tokens[slot] = t.tokens[slot] > cost ? t.tokens[slot] - cost : 0;
      return null;
    }
    // The failure that empties the budget bans: admit() drops a source whose budget is
    // empty before it can fail again, so waiting for one more failure would never ban.
    if (t.fails[slot] >= 2) {
      t.fails[slot] -= 1;
      return null;
    }
    t.fails[slot] = t.fails[slot] >= 1 ? t.fails[slot] - 1 : 0;
    if (t.proven[slot] > now) {
      c.failures_proven++;
      return null;
    }
    const existing = this.#bans.get(key);
    if (existing !== undefined && (existing.until === null || existing.until > now)) {
      return null; // already banned (a datagram admitted just before the ban)
    }
    const ban = this.#makeBan(key, sourceTextOf(ip, this.#cfg.ipv6_prefix), ip.family, reason, now);
    if (ban) t.fails[slot] = this.#cfg.fail_burst;
    return ban;
  }

  /** Reports that a datagram from `ip` authenticated: its failure budget refills and it is proven. */
  succeeded(ip: IpAddress, now: number): void {
    this.counters.successes++;
    const t = this.#table;
    const slot = this.#slotFor(sourceKeyOf(ip, this.#cfg.ipv6_prefix), ip, now);
    t.fails[slot] = this.#cfg.fail_burst;
    // Becoming proven refills the datagram bucket: under pressure the first datagram cost
    // a whole bucket, and the challenge answer that follows within milliseconds must not
    // be dropped (it was: ~15 % of pings retried after 250 ms during any flood). Only on
    // the transition, so an authenticated source cannot refill it with every datagram.
    if (t.proven[slot] <= now) t.tokens[slot] = this.#cfg.per_source_burst;
    t.proven[slot] = now + this.#cfg.proven_ttl;
  }

  /** Until when the source of `ip` counts as recently authenticated (0 when it does not). */
  provenUntil(ip: IpAddress): number {
    const slot = this.#table.map.get(sourceKeyOf(ip, this.#cfg.ipv6_prefix));
    return slot === undefined ? 0 : this.#table.proven[slot];
  }

  /**
   * Marks a source (as text: an address or an IPv6 prefix) recently authenticated until
   * `until`, as restored from the state store. False for invalid text or a past time.
   */
  restoreProven(source: string, until: number, now: number): boolean {
    if (!(until > now)) return false;
    const cidr = parseCidr(source);
    const parsed = parseSource(source, this.#cfg.ipv6_prefix);
    if (!cidr || typeof parsed === "string") return false;
    const ip: IpAddress = { family: cidr.family, value: cidr.network };
    const t = this.#table;
    const slot = this.#slotFor(parsed.key, ip, now);
    if (t.proven[slot] < until) t.proven[slot] = Math.min(until, now + this.#cfg.proven_ttl);
    return true;
  }

  /** The active ban on the source of `ip`, if any. */
  banOf(ip: IpAddress, now: number): Ban | undefined {
    const ban = this.#bans.get(sourceKeyOf(ip, this.#cfg.ipv6_prefix));
    return ban !== undefined && (ban.until === null || ban.until > now) ? ban : undefined;
  }

  /** Every active ban. */
  bans(now: number): Ban[] {
    const out: Ban[] = [];
    for (const b of this.#bans.values()) if (b.until === null || b.until > now) out.push(b);
    return out;
  }

  /**
   * Adds (or replaces) a ban made elsewhere (loaded from the store, added by the CLI).
   * False when the source text is invalid or the table is full of active bans.
   */
  addBan(ban: Ban, now: number): boolean {
    const parsed = parseSource(ban.source, this.#cfg.ipv6_prefix);
    if (typeof parsed === "string") return false;
    if (!this.#bans.has(parsed.key) && !this.#makeRoom(now)) {
      this.counters.bans_refused_full++;
      return false;
    }
    this.#bans.set(parsed.key, { ...ban, source: parsed.text, family: parsed.family });
    this.counters.bans_added++;
    return true;
  }

  /** Lifts the ban (and forgets the history) of a source given as text; true when there was one. */
  removeBan(source: string): boolean {
    const parsed = parseSource(source, this.#cfg.ipv6_prefix);
    if (typeof parsed === "string") return false;
    const had = this.#bans.delete(parsed.key);
    if (had) this.counters.bans_removed++;
    return had;
  }

  /** Drops ban histories older than `ban_max` past their end. O(bans); call every few seconds. */
  sweep(now: number): void {
    this.#lastSweep = now;
    const keep = this.#cfg.ban_max;
    for (const [key, b] of this.#bans) {
      if (b.until !== null && b.until + keep <= now) {
        this.#bans.delete(key);
        this.counters.ban_history_dropped++;
      }
    }
    if (this.pressure) this.#updatePressure(now);
  }

  #flagsFor(ip: IpAddress): number {
    if (this.#allow.length === 0) return 0;
    return anyCidrContains(this.#allow, ip) ? FLAG_ALLOWED : 0;
  }

  /** The slot of `key`, created (evicting if full) when absent; refilled to `now` and made most recent. */
  #slotFor(key: SourceKey, ip: IpAddress, now: number): number {
    const t = this.#table;
    const cfg = this.#cfg;
    let slot = t.map.get(key);
    if (slot === undefined) {
      slot = this.#newSlot(now);
      t.map.set(key, slot);
      t.keys[slot] = key;
      // Under pressure a new source starts with one datagram's worth, so that an attacker
      // cycling more addresses than the table holds gains one datagram per eviction.
      t.tokens[slot] = this.pressure ? this.#pressureCost : cfg.per_source_burst;
      t.fails[slot] = cfg.fail_burst;
      t.seen[slot] = now;
      t.proven[slot] = 0;
      t.flags[slot] = this.#flagsFor(ip);
      t.pushFront(slot);
      return slot;
    }
    const elapsed = now - t.seen[slot];
    if (elapsed > 0) {
      const tok = t.tokens[slot] + elapsed * cfg.per_source_rate / 1000;
      t.tokens[slot] = tok > cfg.per_source_burst ? cfg.per_source_burst : tok;
      const f = t.fails[slot] + elapsed * cfg.fail_rate / 1000;
      t.fails[slot] = f > cfg.fail_burst ? cfg.fail_burst : f;
      t.seen[slot] = now;
    }
    t.touch(slot);
    return slot;
  }

  #newSlot(now: number): number {
    const t = this.#table;
    const cap = this.#cfg.max_tracked_sources;
    while (t.map.size > cap) this.#evict(t.tail, now); // cap lowered by a reload
    if (t.map.size < cap && t.used < cap) return t.allocate(cap);
    // Full: look at the few oldest for an idle, unproven entry; else take the oldest.
    let victim = t.tail;
    let fallback = NIL;
    for (let i = 0, s = t.tail; i < EVICT_SCAN && s !== NIL; i++, s = t.prev[s]) {
      if (t.proven[s] > now) continue;
      if (now - t.seen[s] >= this.#idleMs) {
        victim = s;
        fallback = NIL;
        break;
      }
      if (fallback === NIL) fallback = s;
    }
    if (fallback !== NIL) victim = fallback;
    this.#evict(victim, now);
    return victim;
  }

  #evict(slot: number, now: number): void {
    const t = this.#table;
    if (now - t.seen[slot] >= this.#idleMs) this.counters.evicted_idle++;
    else this.counters.evicted_active++;
    t.unlink(slot);
    t.map.delete(t.keys[slot]);
  }

  #makeBan(
    key: SourceKey,
    text: string,
    family: 4 | 6,
    reason: string,
    now: number,
  ): Ban | null {
    const cfg = this.#cfg;
    const previous = this.#bans.get(key);
    const n = previous?.count ?? 0;
    if (previous === undefined && !this.#makeRoom(now)) {
      this.counters.bans_refused_full++;
      return null;
    }
    const permanent = cfg.permanent_after > 0 && n >= cfg.permanent_after;
    const duration = Math.min(cfg.ban_max, cfg.ban_time * Math.pow(cfg.ban_backoff, n));
    const ban: Ban = {
      source: text,
      family,
      reason,
      created: now,
      until: permanent ? null : now + duration,
      count: n + 1,
    };
    this.#bans.delete(key); // re-insert: Map order = age, oldest first
    this.#bans.set(key, ban);
    if (permanent) this.counters.bans_permanent++;
    else this.counters.bans_temporary++;
    return ban;
  }

  /** True when the ban table has room for one more record, dropping histories if needed. */
  #makeRoom(now: number): boolean {
    if (this.#bans.size < this.#cfg.max_bans) return true;
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return false;
    this.sweep(now);
    if (this.#bans.size < this.#cfg.max_bans) return true;
    // Still full: drop expired histories, oldest first, even if recent.
    for (const [key, b] of this.#bans) {
      if (b.until !== null && b.until <= now) {
        this.#bans.delete(key);
        this.counters.ban_history_dropped++;
        if (this.#bans.size < this.#cfg.max_bans) return true;
      }
    }
    return false;
  }

  #failRate(now: number): number {
    this.#roll(now);
    const frac = (now - this.#windowStart) / 1000;
    return this.#prevWindowCount * (1 - frac) + this.#windowCount;
  }

  #roll(now: number): void {
    const start = now - (now % 1000);
    if (start === this.#windowStart) return;
    this.#prevWindowCount = start - this.#windowStart === 1000 ? this.#windowCount : 0;
    this.#windowCount = 0;
    this.#windowStart = start;
  }

  #countFailure(now: number): void {
    this.#roll(now);
    this.#windowCount++;
    const threshold = this.#cfg.pressure_fail_rate;
    if (this.#windowCount <= threshold / 2 && !this.pressure) return; // cheap common case
    const rate = this.#failRate(now);
    if (rate > threshold / 2) this.#pressureHighAt = now;
    if (!this.pressure && rate > threshold) {
      this.pressure = true;
      this.counters.pressure_entered++;
    }
  }

  #updatePressure(now: number): void {
    const rate = this.#failRate(now);
    if (rate > this.#cfg.pressure_fail_rate / 2) {
      this.#pressureHighAt = now;
      return;
    }
    if (now - this.#pressureHighAt >= PRESSURE_HOLD_MS) {
      this.pressure = false;
      this.counters.pressure_left++;
    }
  }
}

/** The first address of the source `key` (for CIDR checks on a tracked entry). */
function keyToIp(key: SourceKey, ipv6Prefix: number): IpAddress {
  if (typeof key === "number") return { family: 4, value: BigInt(key) };
  return { family: 6, value: BigInt("0x" + key.slice(2)) << BigInt(128 - ipv6Prefix) };
}

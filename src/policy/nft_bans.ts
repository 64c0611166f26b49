/**
 * Kernel-level drop of banned sources: bans mirrored into nftables so a banned flooder
 * costs the daemon nothing at all.
 *
 * Owned objects, all in `table inet siglatch` (a table other siglatch features share, so
 * only these are ever created or deleted here; no other table is touched):
 * - set `banned_v4` (`ipv4_addr`, `flags timeout`) and set `banned_v6` (`ipv6_addr`,
 *   `flags interval, timeout`: IPv6 sources are prefixes such as `2001:db8::/64`);
 *   element timeout = the ban's remaining time, none for a permanent ban;
 * - set `ban_ports` (`inet_service`): the daemon's UDP ports;
 * - chain `bans`, `type filter hook prerouting priority -150`, policy accept, with rules
 *   `ip saddr @banned_v4 udp dport @ban_ports counter drop` (and the `ip6` twin).
 *
 * Scope: by default only datagrams to the daemon's own UDP ports are dropped (`ports`).
 * A ban is the daemon's judgement of traffic to its port; dropping everything from the
 * address would also cut, say, a shared NAT address off every other service on the host
 * (and forwarded traffic, at prerouting). `all` drops everything from a banned source for
 * operators who want that. Prerouting at -150 drops before the routing decision and before
 * the filter chains (conntrack at -200 has already seen the packet).
 *
 * Changes are coalesced and applied in batches, one `nft -f -` process per batch, never
 * awaited by the receive loop; a batch that is running collects the next one. Each element
 * change uses the idempotent idiom `add element; delete element; add element …` so that a
 * batch never fails on "exists" / "does not exist".
 * @module
 */
import type { Ban } from "./ratelimit.ts";
import { type NftRun, runNft } from "../util/nft_run.ts";

/** Name of the shared table. */
export const NFT_TABLE = "siglatch";
/** Chain owned by bans. */
export const NFT_CHAIN = "bans";
/** Sets owned by bans. */
export const NFT_SETS = ["banned_v4", "banned_v6", "ban_ports"] as const;

/** Options for {@linkcode NftBans}. */
export interface NftBansOptions {
  /** The nft command (argv prefix), e.g. `["ip", "netns", "exec", "ns1", "nft"]`. Default `["nft"]`. */
  command?: string[];
  /** `ports` (default): drop only to `ports`; `all`: drop everything from a banned source. */
  scope?: "ports" | "all";
  /** UDP ports the daemon listens on (for scope `ports`). */
  ports?: number[];
  /** Clock (epoch ms) used to compute remaining ban time. */
  clock?: () => number;
  /** Most element changes per nft process. Default 5000. */
  maxBatch?: number;
  /** Called when a batch fails (the error text from nft). */
  onError?: (message: string) => void;
}

/** Counters of the mirror. */
export interface NftCounters {
  /** nft processes run. */
  batches: number;
  /** Batches that failed. */
  batch_errors: number;
  /** Element additions sent. */
  elements_added: number;
  /** Element removals sent. */
  elements_removed: number;
}

/** The result of running nft once. */

/** Formats milliseconds as an nft timeout (`1234ms`; at least 1s). */
function nftTimeout(ms: number): string {
  return `${Math.max(1000, Math.ceil(ms))}ms`;
}

function setFor(source: string): "banned_v4" | "banned_v6" {
  return source.includes(":") ? "banned_v6" : "banned_v4";
}

/** Mirrors bans into nftables sets; see the module doc. */
export class NftBans {
  readonly #cmd: string[];
  #scope: "ports" | "all";
  #ports: number[];
  readonly #clock: () => number;
  readonly #maxBatch: number;
  readonly #onError: (message: string) => void;
  /** source → ban to add (with remaining time at flush) or null to remove. */
  readonly #pending = new Map<string, Ban | null>();
  #running: Promise<void> | null = null;
  #ready = false;
  /** Counters. */
  readonly counters: NftCounters = {
    batches: 0,
    batch_errors: 0,
    elements_added: 0,
    elements_removed: 0,
  };

  /** Creates the mirror (nothing runs until {@linkcode setup}). */
  constructor(opts: NftBansOptions = {}) {
    this.#cmd = opts.command ?? ["nft"];
    this.#scope = opts.scope ?? "ports";
    this.#ports = opts.ports ?? [];
    this.#clock = opts.clock ?? Date.now;
    this.#maxBatch = opts.maxBatch ?? 5000;
    this.#onError = opts.onError ?? (() => {});
  }

  /** Runs nft with `script` on stdin. */
  #nft(script: string, args?: string[]): Promise<NftRun> {
    return runNft(this.#cmd, script, args);
  }

  #rules(): string[] {
    const t = `inet ${NFT_TABLE}`;
    const dport = this.#scope === "ports" ? " udp dport @ban_ports" : "";
    return [
      `flush chain ${t} ${NFT_CHAIN}`,
      `add rule ${t} ${NFT_CHAIN} ip saddr @banned_v4${dport} counter drop`,
      `add rule ${t} ${NFT_CHAIN} ip6 saddr @banned_v6${dport} counter drop`,
    ];
  }

  #portLines(): string[] {
    const t = `inet ${NFT_TABLE}`;
    const lines = [`flush set ${t} ban_ports`];
    if (this.#ports.length > 0) {
      lines.push(`add element ${t} ban_ports { ${[...new Set(this.#ports)].join(", ")} }`);
    }
    return lines;
  }

  #elementLines(source: string, ban: Ban | null, now: number): string[] {
    const t = `inet ${NFT_TABLE}`;
    const set = setFor(source);
    const lines = [
      `add element ${t} ${set} { ${source} }`,
      `delete element ${t} ${set} { ${source} }`,
    ];
    if (ban === null) {
      this.counters.elements_removed++;
      return lines;
    }
    if (ban.until === null) {
      lines.push(`add element ${t} ${set} { ${source} }`);
    } else {
      const left = ban.until - now;
      if (left <= 0) return lines;
      lines.push(`add element ${t} ${set} { ${source} timeout ${nftTimeout(left)} }`);
    }
    this.counters.elements_added++;
    return lines;
  }

  /**
   * Creates (idempotently) the sets and the chain, replaces the chain's rules and the sets'
   * contents with `bans`. Throws with nft's message when nft fails (e.g. not root).
   */
  async setup(bans: readonly Ban[] = []): Promise<void> {
    const t = `inet ${NFT_TABLE}`;
    const now = this.#clock();
    const lines = [
      `add table ${t}`,
      `add set ${t} banned_v4 { type ipv4_addr; flags timeout; }`,
      `add set ${t} banned_v6 { type ipv6_addr; flags interval, timeout; }`,
      `add set ${t} ban_ports { type inet_service; }`,
      `add chain ${t} ${NFT_CHAIN} { type filter hook prerouting priority -150; policy accept; }`,
      ...this.#rules(),
      ...this.#portLines(),
      `flush set ${t} banned_v4`,
      `flush set ${t} banned_v6`,
    ];
    for (const b of bans) {
      if (b.until !== null && b.until <= now) continue;
      const set = setFor(b.source);
      const timeout = b.until === null ? "" : ` timeout ${nftTimeout(b.until - now)}`;
      lines.push(`add element ${t} ${set} { ${b.source}${timeout} }`);
      this.counters.elements_added++;
    }
    this.counters.batches++;
    const res = await this.#nft(lines.join("\n") + "\n");
    if (res.code !== 0) {
      this.counters.batch_errors++;
      throw new Error(`nft setup failed: ${res.stderr.trim() || `exit ${res.code}`}`);
    }
    this.#ready = true;
    this.#kick();
  }

  /** Changes the drop scope and ports (reload); applied with the next batch. */
  async reconfigure(scope: "ports" | "all", ports: number[]): Promise<void> {
    this.#scope = scope;
    this.#ports = ports;
    if (!this.#ready) return;
    await this.flush();
    const res = await this.#nft([...this.#rules(), ...this.#portLines()].join("\n") + "\n");
    this.counters.batches++;
    if (res.code !== 0) {
      this.counters.batch_errors++;
      this.#onError(res.stderr.trim());
    }
  }

  /**
   * Queues a ban (non-blocking; coalesced into the next batch). Ignored before `setup`
   * succeeded (setup installs the full list) and after `teardown`.
   */
  ban(ban: Ban): void {
    if (!this.#ready) return;
    this.#pending.set(ban.source, ban);
    this.#kick();
  }

  /** Queues the removal of a source's ban (non-blocking); ignored when not set up. */
  unban(source: string): void {
    if (!this.#ready) return;
    this.#pending.set(source, null);
    this.#kick();
  }

  /** Changes queued and not yet sent. */
  get pending(): number {
    return this.#pending.size;
  }

  #kick(): void {
    if (this.#running || !this.#ready) return;
    this.#running = (async () => {
      // Let the current burst of bans accumulate before the first process starts.
      await new Promise((r) => setTimeout(r, 0));
      try {
        while (this.#pending.size > 0 && this.#ready) await this.#applyBatch();
      } finally {
        this.#running = null;
      }
    })();
  }

  async #applyBatch(): Promise<void> {
    const now = this.#clock();
    const lines: string[] = [];
    let n = 0;
    for (const [source, ban] of this.#pending) {
      this.#pending.delete(source);
      lines.push(...this.#elementLines(source, ban, now));
      if (++n >= this.#maxBatch) break;
    }
    if (lines.length === 0) return;
    this.counters.batches++;
    try {
      const res = await this.#nft(lines.join("\n") + "\n");
      if (res.code !== 0) {
        this.counters.batch_errors++;
        this.#onError(res.stderr.trim() || `nft exit ${res.code}`);
      }
    } catch (err) {
      this.counters.batch_errors++;
      this.#onError(err instanceof Error ? err.message : String(err));
    }
  }

  /** Waits until every queued change has been applied. */
  async flush(): Promise<void> {
    while (this.#running || (this.#ready && this.#pending.size > 0)) {
      if (!this.#running) this.#kick();
      await this.#running;
    }
  }

  /**
   * Removes what {@linkcode setup} created: the chain and the three sets, then the table
   * only if nothing else (another feature's sets or chains) is left in it.
   */
  async teardown(): Promise<void> {
    await this.flush();
    this.#ready = false;
    const t = `inet ${NFT_TABLE}`;
    const listed = await this.#nft("", ["-j", "list", "table", "inet", NFT_TABLE]);
    if (listed.code !== 0) return; // no table: nothing of ours
    const objects = tableObjects(listed.stdout);
    const mine = new Set<string>([`chain:${NFT_CHAIN}`, ...NFT_SETS.map((s) => `set:${s}`)]);
    const lines: string[] = [];
    if (objects.has(`chain:${NFT_CHAIN}`)) lines.push(`delete chain ${t} ${NFT_CHAIN}`);
    for (const s of NFT_SETS) if (objects.has(`set:${s}`)) lines.push(`delete set ${t} ${s}`);
    const others = [...objects].filter((o) => !mine.has(o));
    if (others.length === 0) lines.push(`delete table ${t}`);
    if (lines.length === 0) return;
    this.counters.batches++;
    const res = await this.#nft(lines.join("\n") + "\n");
    if (res.code !== 0) {
      this.counters.batch_errors++;
      throw new Error(`nft teardown failed: ${res.stderr.trim()}`);
    }
  }
}

/** `kind:name` of every set, map, chain, flowtable… in an `nft -j list table` output. */
function tableObjects(json: string): Set<string> {
  const out = new Set<string>();
  try {
    const parsed = JSON.parse(json) as { nftables?: Record<string, { name?: string }>[] };
    for (const item of parsed.nftables ?? []) {
      for (const [kind, body] of Object.entries(item)) {
        if (kind === "metainfo" || kind === "table" || kind === "rule") continue;
        if (body && typeof body.name === "string") out.add(`${kind}:${body.name}`);
      }
    }
  } catch {
    // unparsable: report nothing, so the table is never deleted blindly
    out.add("unknown:?");
  }
  return out;
}

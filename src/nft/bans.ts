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
 *
 * Reconciliation: the mirror remembers every ban it holds (source and end; expired ones
 * pruned). When its objects vanish from the kernel (`nft flush ruleset`), the periodic probe
 * (`reconcileMs`) or the next failed batch rebuilds them from that memory in one
 * transaction; a failed batch is then retried once.
 *
 * Plain data in: a source is a canonical address or, for IPv6, a canonical prefix with host
 * bits clear (checked here, see `address.ts`: a junk source read from the store is refused
 * and reported, never written into a script); an end time or null (permanent).
 * @module
 */
import { type NftRun, runNft, Serial } from "./run.ts";
import { nftSource } from "./address.ts";
import { Reconciler, type ReconcileStatus } from "./reconcile.ts";
import {
  missingFrom,
  type NftBackendOptions,
  nftTimeout,
  removeOwned,
  T,
  TABLE,
  viewTable,
} from "./table.ts";

/** Name of the shared table. */
export const NFT_TABLE = TABLE;
/** Chain owned by bans. */
export const NFT_CHAIN = "bans";
/** Sets owned by bans. */
export const NFT_SETS = ["banned_v4", "banned_v6", "ban_ports"] as const;

/** One ban as the mirror needs it (the policy's `Ban` fits). */
export interface BanElement {
  /** Canonical IPv4 address, or canonical IPv6 address or prefix (`2001:db8::/64`). */
  source: string;
  /** End (epoch ms), or null for a permanent ban. */
  until: number | null;
}

/** Options for {@linkcode NftBans}. */
export interface NftBansOptions extends NftBackendOptions {
  /** `ports` (default): drop only to `ports`; `all`: drop everything from a banned source. */
  scope?: "ports" | "all";
  /** UDP ports the daemon listens on (for scope `ports`). */
  ports?: number[];
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
  /** Sources refused as not canonical (never written into a script). */
  refused: number;
}

/** The checked set and text of a source. */
type Checked = { set: "banned_v4" | "banned_v6"; text: string };

/** Mirrors bans into nftables sets; see the module doc. */
export class NftBans {
  readonly #cmd: string[];
  #scope: "ports" | "all";
  #ports: number[];
  readonly #clock: () => number;
  readonly #maxBatch: number;
  readonly #onError: (message: string) => void;
  /** source → end to add (with remaining time at flush) or undefined to remove. */
  readonly #pending = new Map<string, { until: number | null } | undefined>();
  /** Every ban held (source → end): the state a repair restores. */
  readonly #held = new Map<string, number | null>();
  readonly #serial = new Serial();
  readonly #reconciler: Reconciler;
  #running: Promise<void> | null = null;
  #ready = false;
  /** Counters. */
  readonly counters: NftCounters = {
    batches: 0,
    batch_errors: 0,
    elements_added: 0,
    elements_removed: 0,
    refused: 0,
  };

  /** Creates the mirror (nothing runs until {@linkcode setup}). */
  constructor(opts: NftBansOptions = {}) {
    this.#cmd = opts.command ?? ["nft"];
    this.#scope = opts.scope ?? "ports";
    this.#ports = checkPorts(opts.ports ?? []);
    this.#clock = opts.clock ?? Date.now;
    this.#maxBatch = opts.maxBatch ?? 5000;
    this.#onError = opts.onError ?? (() => {});
    this.#reconciler = new Reconciler({
      intervalMs: opts.reconcileMs ?? 0,
      clock: this.#clock,
      probe: async () => {
        this.#prune();
        const view = await viewTable(this.#cmd);
        if (view.error !== undefined) throw new Error(`nft: ${view.error}`);
        return missingFrom(view, NFT_CHAIN, 2, NFT_SETS);
      },
      repair: () => this.#install(),
      onRepair: opts.onRepair,
      onError: (m) => this.#onError(`reconcile: ${m}`),
    });
  }

  /** Runs nft with `script` on stdin. */
  #nft(script: string, args?: string[]): Promise<NftRun> {
    return runNft(this.#cmd, script, args);
  }

  #check(source: string): Checked | null {
    try {
      const a = nftSource(source);
      return { set: a.family === 6 ? "banned_v6" : "banned_v4", text: a.text };
    } catch (err) {
      this.counters.refused++;
      this.#onError(`ban source refused: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
  }

  #rules(): string[] {
    const dport = this.#scope === "ports" ? " udp dport @ban_ports" : "";
    return [
      `flush chain ${T} ${NFT_CHAIN}`,
      `add rule ${T} ${NFT_CHAIN} ip saddr @banned_v4${dport} counter drop`,
      `add rule ${T} ${NFT_CHAIN} ip6 saddr @banned_v6${dport} counter drop`,
    ];
  }

  #portLines(): string[] {
    const lines = [`flush set ${T} ban_ports`];
    if (this.#ports.length > 0) {
      lines.push(`add element ${T} ban_ports { ${[...new Set(this.#ports)].join(", ")} }`);
    }
    return lines;
  }

  /** Lines for one change of an already checked source. */
  #elementLines(c: Checked, until: number | null | undefined, now: number): string[] {
    const lines = [
      `add element ${T} ${c.set} { ${c.text} }`,
      `delete element ${T} ${c.set} { ${c.text} }`,
    ];
    if (until === undefined) {
      this.counters.elements_removed++;
      return lines;
    }
    if (until === null) {
      lines.push(`add element ${T} ${c.set} { ${c.text} }`);
    } else {
      if (until <= now) return lines;
      lines.push(`add element ${T} ${c.set} { ${c.text} timeout ${nftTimeout(until - now)} }`);
    }
    this.counters.elements_added++;
    return lines;
  }

  /**
   * Creates (idempotently) the sets and the chain, replaces the chain's rules and the sets'
   * contents with `bans` (a source that is not canonical is refused and reported). Throws
   * with nft's message when nft fails (e.g. not root). Starts the reconcile probe.
   */
  async setup(bans: readonly BanElement[] = []): Promise<void> {
    this.#held.clear();
    for (const b of bans) if (this.#check(b.source)) this.#held.set(b.source, b.until);
    await this.#install();
    this.#ready = true;
    this.#reconciler.start();
    this.#kick();
  }

  /** One transaction: table, sets, chain, rules, ports, and the bans held in memory. */
  #install(): Promise<void> {
    return this.#serial.run(async () => {
      this.#prune();
      const now = this.#clock();
      const lines = [
        `add table ${T}`,
        `add set ${T} banned_v4 { type ipv4_addr; flags timeout; }`,
        `add set ${T} banned_v6 { type ipv6_addr; flags interval, timeout; }`,
        `add set ${T} ban_ports { type inet_service; }`,
        `add chain ${T} ${NFT_CHAIN} { type filter hook prerouting priority -150; policy accept; }`,
        ...this.#rules(),
        ...this.#portLines(),
        `flush set ${T} banned_v4`,
        `flush set ${T} banned_v6`,
      ];
      for (const [source, until] of this.#held) {
        const c = this.#check(source);
        if (!c) continue;
        const timeout = until === null ? "" : ` timeout ${nftTimeout(until - now)}`;
        lines.push(`add element ${T} ${c.set} { ${c.text}${timeout} }`);
        this.counters.elements_added++;
      }
      this.counters.batches++;
      const res = await this.#nft(lines.join("\n") + "\n");
      if (res.code !== 0) {
        this.counters.batch_errors++;
        throw new Error(`nft setup failed: ${res.stderr.trim() || `exit ${res.code}`}`);
      }
    });
  }

  /** Forgets held bans that have ended (the kernel dropped them by itself). */
  #prune(): void {
    const now = this.#clock();
    for (const [s, until] of this.#held) if (until !== null && until <= now) this.#held.delete(s);
  }

  /** Bans held in memory (what a repair would restore). */
  get held(): number {
    return this.#held.size;
  }

  /** Probes the kernel now and repairs what is missing; true when it repaired. */
  reconcile(): Promise<boolean> {
    return this.#reconciler.check();
  }

  /** The last reconcile result (for the daemon's `status`). */
  reconcileStatus(): ReconcileStatus {
    return this.#reconciler.status();
  }

  /** Changes the drop scope and ports (reload); a vanished table is rebuilt whole. */
  async reconfigure(scope: "ports" | "all", ports: number[]): Promise<void> {
    this.#scope = scope;
    this.#ports = checkPorts(ports);
    if (!this.#ready) return;
    await this.flush();
    this.counters.batches++;
    const res = await this.#serial.run(() =>
      this.#nft([...this.#rules(), ...this.#portLines()].join("\n") + "\n")
    );
    if (res.code !== 0 && !(await this.#reconciler.check())) {
      this.counters.batch_errors++;
      this.#onError(res.stderr.trim());
    }
  }

  /**
   * Queues a ban (non-blocking; coalesced into the next batch). Ignored before `setup`
   * succeeded (setup installs the full list), after `teardown`, and for a source that is
   * not canonical (reported through `onError`).
   */
  ban(ban: BanElement): void {
    if (!this.#ready || !this.#check(ban.source)) return;
    this.#held.set(ban.source, ban.until);
    this.#pending.set(ban.source, { until: ban.until });
    this.#kick();
  }

  /** Queues the removal of a source's ban (non-blocking); ignored when not set up. */
  unban(source: string): void {
    if (!this.#ready || !this.#check(source)) return;
    this.#held.delete(source);
    this.#pending.set(source, undefined);
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
    for (const [source, change] of this.#pending) {
      this.#pending.delete(source);
      const c = this.#check(source);
      if (c) {
        lines.push(...this.#elementLines(c, change === undefined ? undefined : change.until, now));
      }
      if (++n >= this.#maxBatch) break;
    }
    if (lines.length === 0) return;
    const script = lines.join("\n") + "\n";
    let res = await this.#run(script);
    // The table vanished (flush ruleset)? Put it back from memory, then retry once.
    if (res.code !== 0 && await this.#reconciler.check()) {
      this.counters.batch_errors++;
      res = await this.#run(script);
    }
    if (res.code !== 0) {
      this.counters.batch_errors++;
      this.#onError(res.stderr.trim() || `nft exit ${res.code}`);
    }
  }

  async #run(script: string): Promise<NftRun> {
    this.counters.batches++;
    try {
      return await this.#serial.run(() => this.#nft(script));
    } catch (err) {
      return { code: -1, stdout: "", stderr: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Waits until every queued change has been applied. */
  async flush(): Promise<void> {
    while (this.#running || (this.#ready && this.#pending.size > 0)) {
      if (!this.#running) this.#kick();
      await this.#running;
    }
  }

  /** Stops the reconcile probe and waits for queued changes (kernel elements stay). */
  async close(): Promise<void> {
    await this.#reconciler.stop();
    await this.flush();
  }

  /**
   * Removes what {@linkcode setup} created: the chain and the three sets, then the table
   * only if nothing else (another feature's sets or chains) is left in it.
   */
  async teardown(): Promise<void> {
    await this.close();
    this.#ready = false;
    this.counters.batches++;
    try {
      await this.#serial.run(() => removeOwned(this.#cmd, NFT_CHAIN, NFT_SETS));
    } catch (err) {
      this.counters.batch_errors++;
      throw err;
    }
  }
}

/** Ports as integers 1..65535; throws otherwise (they are written into a script). */
function checkPorts(ports: number[]): number[] {
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`bad port ${p}`);
  }
  return ports;
}

/**
 * nftables backend for firewall grants: time-bounded `address . protocol . port` elements
 * in sets of the daemon's table, applied in coalesced batches.
 *
 * Owned objects, all in `table inet siglatch` (shared with the ban mirror in `bans.ts`, so
 * only these are ever added, changed or deleted here and no other table is ever touched):
 * - set `grants_v4` (`ipv4_addr . inet_proto . inet_service`, `flags timeout`) and set
 *   `grants_v6` (`ipv6_addr . inet_proto . inet_service`, `flags timeout`);
 * - chain `grants`, `type filter hook input priority P` (default -10: before a host filter
 *   at 0), policy accept, with the rules
 *   `ip saddr . meta l4proto . th dport @grants_v4 meta mark set meta mark or M accept`
 *   (and the `ip6` twin), then, when guarded ports are configured,
 *   `ct state new meta l4proto . th dport { tcp . 22, … } drop`.
 *
 * Why the mark: in nftables an `accept` ends only the current base chain; the packet still
 * traverses every other base chain on the hook, and a host filter in another table with
 * `policy drop` drops it. The host must therefore let granted packets through, and the
 * mark is how it recognises them: one rule in the host's input chain,
 * `meta mark & M == M accept` (see `config/examples/nftables-host.nft`). Alternatively
 * ("guard" mode) the host filter accepts the protected ports and siglatch itself drops new
 * connections to them that no grant covers.
 *
 * Element timeouts are the kernel's: a grant ends on time even when the daemon is down.
 * Changes are queued, coalesced per element, and applied by one `nft -f -` per batch
 * (measured, see `bench/firewall_bench.ts`); callers may await the batch or not. Each change
 * uses the idempotent sequence `add element E; delete element E; add element E timeout T`
 * (a plain `add` keeps the old timeout, and `delete` of an absent element would fail the
 * whole transaction). A failed batch is split in halves and retried, so one bad element
 * cannot sink the others.
 *
 * Reconciliation: the backend remembers every element it was asked to hold (address,
 * port, absolute expiry; expired ones pruned). When its objects vanish from the kernel
 * (`nft flush ruleset`), the periodic probe (`reconcileMs`) or the next failed batch
 * rebuilds table, sets, chain and elements from that memory in one transaction, and the
 * failed batch is retried once. {@linkcode NftGrants.reconcileStatus} reports the last check.
 *
 * Plain data in: canonical address text (checked here, see `address.ts`), ports, times.
 * @module
 */
import { type NftRun, runNft, Serial } from "./run.ts";
import { nftAddress } from "./address.ts";
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

export { nftTimeout };

/** The shared table. */
export const GRANT_TABLE = TABLE;
/** The chain owned by grants. */
export const GRANT_CHAIN = "grants";
/** The sets owned by grants. */
export const GRANT_SETS = ["grants_v4", "grants_v6"] as const;
/** The packet-mark bit set on granted packets by default. */
export const DEFAULT_GRANT_MARK = 0x20000000;
/** The default chain priority (before a host filter at priority 0). */
export const DEFAULT_GRANT_PRIORITY = -10;

/** One protocol/port pair. */
export interface PortSpec {
  /** Transport protocol. */
  proto: "tcp" | "udp";
  /** Destination port 1..65535. */
  port: number;
}

/** One grant element as the kernel reports it. */
export interface NftElement {
  /** Source address (canonical text). */
  address: string;
  /** Protocol. */
  proto: string;
  /** Destination port. */
  port: number;
  /** The element's timeout (ms, second precision from nft). */
  timeoutMs?: number;
  /** Time left (ms, second precision from nft). */
  expiresMs?: number;
}

/** Options for {@linkcode NftGrants}. */
export interface NftGrantsOptions extends NftBackendOptions {
  /** Run nft inside this network namespace (`ip netns exec NS nft`; `command` overrides). */
  netns?: string;
  /** Chain priority; default -10. */
  priority?: number;
  /** Mark bit(s) OR-ed into granted packets; 0 = no mark. Default 0x20000000. */
  mark?: number;
  /** Ports siglatch itself closes to new connections not covered by a grant ("guard" mode). */
  guard?: PortSpec[];
}

/** Counters of the backend. */
export interface NftGrantCounters {
  /** nft processes run for element changes. */
  batches: number;
  /** nft runs that failed (including retried halves). */
  batch_errors: number;
  /** Element grants applied. */
  granted: number;
  /** Element revocations applied. */
  revoked: number;
  /** Element changes that failed for good. */
  failed: number;
}

/** A grant to (re)apply at setup. */
export interface InitialGrant {
  /** Source address. */
  address: string;
  /** Ports. */
  ports: PortSpec[];
  /** Absolute expiry (epoch ms). */
  expiresAt: number;
}

interface Pending {
  set: "grants_v4" | "grants_v6";
  elem: string;
  /** Absolute expiry for a grant; null for a revocation. */
  expiresAt: number | null;
  waiters: Array<{ resolve: () => void; reject: (e: Error) => void }>;
}

/**
 * Canonical element text `ADDR . PROTO . PORT` and its set; throws unless `address` is one
 * canonical IP address and the port spec is valid.
 */
export function elementOf(address: string, p: PortSpec): { set: Pending["set"]; elem: string } {
  const a = nftAddress(address);
  if (p.proto !== "tcp" && p.proto !== "udp") throw new Error(`bad protocol ${p.proto}`);
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
    throw new Error(`bad port ${p.port}`);
  }
  return {
    set: a.family === 6 ? "grants_v6" : "grants_v4",
    elem: `${a.text} . ${p.proto} . ${p.port}`,
  };
}

/** One element the backend holds: its set, text and absolute expiry. */
interface Held {
  set: Pending["set"];
  elem: string;
  expiresAt: number;
}

/** nftables grant sets and chain; see the module doc. */
export class NftGrants {
  readonly #cmd: string[];
  readonly #priority: number;
  readonly #mark: number;
  #guard: PortSpec[];
  readonly #maxBatch: number;
  readonly #clock: () => number;
  readonly #onError: (message: string) => void;
  readonly #pending = new Map<string, Pending>();
  /** Every element asked for and not yet expired or revoked: the state a repair restores. */
  readonly #held = new Map<string, Held>();
  readonly #serial = new Serial();
  readonly #reconciler: Reconciler;
  #running: Promise<void> | null = null;
  #ready = false;
  /** Counters. */
  readonly counters: NftGrantCounters = {
    batches: 0,
    batch_errors: 0,
    granted: 0,
    revoked: 0,
    failed: 0,
  };

  /** Creates the backend; nothing runs until {@linkcode setup}. */
  constructor(opts: NftGrantsOptions = {}) {
    this.#cmd = opts.command ?? (opts.netns ? ["ip", "netns", "exec", opts.netns, "nft"] : ["nft"]);
    this.#priority = opts.priority ?? DEFAULT_GRANT_PRIORITY;
    if (!Number.isInteger(this.#priority) || Math.abs(this.#priority) > 1000) {
      throw new Error(`nft priority ${this.#priority}: expected an integer -1000..1000`);
    }
    this.#mark = opts.mark ?? DEFAULT_GRANT_MARK;
    if (!Number.isInteger(this.#mark) || this.#mark < 0 || this.#mark > 0xffffffff) {
      throw new Error(`nft mark ${this.#mark}: expected a 32-bit value`);
    }
    this.#guard = opts.guard ?? [];
    this.#maxBatch = opts.maxBatch ?? 4000;
    this.#clock = opts.clock ?? Date.now;
    this.#onError = opts.onError ?? (() => {});
    this.#reconciler = new Reconciler({
      intervalMs: opts.reconcileMs ?? 0,
      clock: this.#clock,
      probe: async () => {
        this.#prune();
        const view = await viewTable(this.#cmd);
        if (view.error !== undefined) throw new Error(`nft: ${view.error}`);
        return missingFrom(view, GRANT_CHAIN, this.#ruleLines().length, GRANT_SETS);
      },
      repair: () => this.#install(),
      onRepair: opts.onRepair,
      onError: (m) => this.#onError(`reconcile: ${m}`),
    });
  }

  /** The mark (0 = none) granted packets carry. */
  get mark(): number {
    return this.#mark;
  }

  /** Runs nft with `script` on stdin. */
  #nft(script: string, args?: string[]): Promise<NftRun> {
    return runNft(this.#cmd, script, args);
  }

  #ruleLines(): string[] {
    const t = `inet ${GRANT_TABLE}`;
    const verdict = this.#mark === 0
      ? "accept"
      : `meta mark set meta mark or 0x${this.#mark.toString(16)} accept`;
    const lines = [
      `add rule ${t} ${GRANT_CHAIN} ip saddr . meta l4proto . th dport @grants_v4 ${verdict}`,
      `add rule ${t} ${GRANT_CHAIN} ip6 saddr . meta l4proto . th dport @grants_v6 ${verdict}`,
    ];
    if (this.#guard.length > 0) {
      const ports = this.#guard.map((p) => `${p.proto} . ${p.port}`).join(", ");
      lines.push(
        `add rule ${t} ${GRANT_CHAIN} ct state new meta l4proto . th dport { ${ports} } drop`,
      );
    }
    return lines;
  }

  /** The chain's current `hook/priority`, or undefined when it does not exist. */
  async #currentChain(): Promise<string | undefined> {
    const res = await this.#nft("", ["-j", "list", "chain", "inet", GRANT_TABLE, GRANT_CHAIN]);
    if (res.code !== 0) return undefined;
    try {
      const parsed = JSON.parse(res.stdout) as { nftables?: Array<Record<string, unknown>> };
      for (const item of parsed.nftables ?? []) {
        const c = item.chain as { hook?: string; prio?: number; type?: string } | undefined;
        if (c) return `${c.type}/${c.hook}/${c.prio}`;
      }
    } catch {
      // fall through: treat as different, so it is replaced
    }
    return "?";
  }

  /** Lines that (re)create the chain with its rules, from its current state. */
  async #chainLines(): Promise<string[]> {
    const t = `inet ${GRANT_TABLE}`;
    const spec = `{ type filter hook input priority ${this.#priority}; policy accept; }`;
    const current = await this.#currentChain();
    const lines: string[] = [];
    if (current === undefined) {
      lines.push(`add chain ${t} ${GRANT_CHAIN} ${spec}`);
    } else if (current === `filter/input/${this.#priority}`) {
      lines.push(`flush chain ${t} ${GRANT_CHAIN}`);
    } else {
      // A base chain's priority cannot be changed in place: replace it in the same
      // transaction as its rules, so there is no moment without them.
      lines.push(
        `flush chain ${t} ${GRANT_CHAIN}`,
        `delete chain ${t} ${GRANT_CHAIN}`,
        `add chain ${t} ${GRANT_CHAIN} ${spec}`,
      );
    }
    return [...lines, ...this.#ruleLines()];
  }

  /**
   * Creates (idempotently) the table, the two sets and the chain with its rules, and
   * replaces the sets' contents with `grants` (their remaining time). One transaction.
   * Throws with nft's message when nft fails (not root, no nf_tables, …) or a grant's
   * address is not canonical. Starts the reconcile probe.
   */
  async setup(grants: readonly InitialGrant[] = []): Promise<void> {
    const held = new Map<string, Held>();
    for (const g of grants) {
      for (const p of g.ports) {
        const { set, elem } = elementOf(g.address, p);
        const key = `${set} ${elem}`;
        held.set(key, {
          set,
          elem,
          expiresAt: Math.max(g.expiresAt, held.get(key)?.expiresAt ?? 0),
        });
      }
    }
    this.#held.clear();
    for (const [k, h] of held) this.#held.set(k, h);
    await this.#install();
    this.#ready = true;
    this.#reconciler.start();
    this.#kick();
  }

  /** One transaction: table, sets, chain and rules, and the sets' contents from memory. */
  #install(): Promise<void> {
    return this.#serial.run(async () => {
      this.#prune();
      const now = this.#clock();
      const lines = [
        `add table ${T}`,
        `add set ${T} grants_v4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }`,
        `add set ${T} grants_v6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }`,
        ...(await this.#chainLines()),
        `flush set ${T} grants_v4`,
        `flush set ${T} grants_v6`,
      ];
      for (const h of this.#held.values()) {
        lines.push(
          `add element ${T} ${h.set} { ${h.elem} timeout ${nftTimeout(h.expiresAt - now)} }`,
        );
      }
      const res = await this.#nft(lines.join("\n") + "\n");
      if (res.code !== 0) {
        throw new Error(`nft setup failed: ${res.stderr.trim() || `exit ${res.code}`}`);
      }
    });
  }

  /** Forgets held elements that have expired (the kernel dropped them by itself). */
  #prune(): void {
    const now = this.#clock();
    for (const [k, h] of this.#held) if (h.expiresAt <= now) this.#held.delete(k);
  }

  /** Elements held in memory (what a repair would restore). */
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

  /** Changes the guarded ports (reload); rewrites only this chain's rules. */
  async setGuard(ports: PortSpec[]): Promise<void> {
    this.#guard = ports;
    if (!this.#ready) return;
    const res = await this.#serial.run(async () =>
      this.#nft((await this.#chainLines()).join("\n") + "\n")
    );
    // A vanished table is put back whole (with the new rules) by a repair.
    if (res.code !== 0 && !(await this.#reconciler.check())) {
      throw new Error(`nft: ${res.stderr.trim()}`);
    }
  }

  /**
   * Grants `address` the `ports` for `ttlMs` (replacing any earlier timeout of the same
   * elements). Returns at once with a promise that settles when the batch carrying it was
   * applied; the receive path need not await it.
   */
  grant(address: string, ports: readonly PortSpec[], ttlMs: number): Promise<void> {
    const expiresAt = this.#clock() + Math.max(0, ttlMs);
    return this.#queue(address, ports, expiresAt);
  }

  /** Removes the elements for `address` and `ports` (absent ones are fine). */
  revoke(address: string, ports: readonly PortSpec[]): Promise<void> {
    return this.#queue(address, ports, null);
  }

  #queue(address: string, ports: readonly PortSpec[], expiresAt: number | null): Promise<void> {
    let elems: Array<{ set: Pending["set"]; elem: string }>;
    try {
      elems = ports.map((p) => elementOf(address, p));
    } catch (err) {
      return Promise.reject(err);
    }
    const promises = elems.map(({ set, elem }) =>
      new Promise<void>((resolve, reject) => {
        const key = `${set} ${elem}`;
        if (expiresAt === null) this.#held.delete(key);
        else this.#held.set(key, { set, elem, expiresAt });
        const existing = this.#pending.get(key);
        if (existing) {
          existing.expiresAt = expiresAt; // the latest change wins
          existing.waiters.push({ resolve, reject });
        } else {
          this.#pending.set(key, { set, elem, expiresAt, waiters: [{ resolve, reject }] });
        }
      })
    );
    this.#kick();
    return Promise.all(promises).then(() => {});
  }

  /** Changes queued and not yet sent. */
  get pending(): number {
    return this.#pending.size;
  }

  #kick(): void {
    if (this.#running || !this.#ready || this.#pending.size === 0) return;
    this.#running = (async () => {
      // Let the current burst accumulate before the process starts.
      await new Promise((r) => setTimeout(r, 0));
      try {
        while (this.#pending.size > 0 && this.#ready) {
          const batch: Pending[] = [];
          for (const [key, p] of this.#pending) {
            this.#pending.delete(key);
            batch.push(p);
            if (batch.length >= this.#maxBatch) break;
          }
          await this.#apply(batch, true);
        }
      } finally {
        this.#running = null;
      }
    })();
  }

  #lines(batch: Pending[], now: number): string {
    const t = `inet ${GRANT_TABLE}`;
    const out: string[] = [];
    for (const p of batch) {
      const e = `add element ${t} ${p.set} { ${p.elem} }`;
      out.push(e, `delete element ${t} ${p.set} { ${p.elem} }`);
      if (p.expiresAt !== null && p.expiresAt > now) {
        out.push(
          `add element ${t} ${p.set} { ${p.elem} timeout ${nftTimeout(p.expiresAt - now)} }`,
        );
      }
    }
    return out.join("\n") + "\n";
  }

  /** One nft run for `batch`; a spawn failure counts as a failed run. */
  async #run(batch: Pending[]): Promise<NftRun> {
    this.counters.batches++;
    try {
      return await this.#serial.run(() => this.#nft(this.#lines(batch, this.#clock())));
    } catch (err) {
      return { code: -1, stdout: "", stderr: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * Applies `batch`. When a whole batch (`first`) fails, the kernel is reconciled first and,
   * when that repaired something, the batch is retried once; then halves are tried alone.
   */
  async #apply(batch: Pending[], first = false): Promise<void> {
    let res = await this.#run(batch);
    if (res.code !== 0 && first && await this.#reconciler.check()) {
      this.counters.batch_errors++;
      res = await this.#run(batch);
    }
    if (res.code === 0) {
      for (const p of batch) {
        if (p.expiresAt === null) this.counters.revoked++;
        else this.counters.granted++;
        for (const w of p.waiters) w.resolve();
      }
      return;
    }
    this.counters.batch_errors++;
    if (batch.length > 1) {
      const half = Math.ceil(batch.length / 2);
      await this.#apply(batch.slice(0, half));
      await this.#apply(batch.slice(half));
      return;
    }
    this.counters.failed++;
    const p = batch[0];
    const key = `${p.set} ${p.elem}`;
    // Failed for good: a repair must not try it again.
    if (p.expiresAt !== null && this.#held.get(key)?.expiresAt === p.expiresAt) {
      this.#held.delete(key);
    }
    const msg = `nft: ${p.elem}: ${res.stderr.trim() || `exit ${res.code}`}`;
    this.#onError(msg);
    for (const w of batch[0].waiters) w.reject(new Error(msg));
  }

  /** Waits until every queued change has been applied (or failed). */
  async flush(): Promise<void> {
    while (this.#running || (this.#ready && this.#pending.size > 0)) {
      if (!this.#running) this.#kick();
      await this.#running;
    }
  }

  /** The elements in the kernel's grant sets now. */
  async list(): Promise<NftElement[]> {
    const out: NftElement[] = [];
    for (const set of GRANT_SETS) {
      const res = await this.#nft("", ["-j", "list", "set", "inet", GRANT_TABLE, set]);
      if (res.code !== 0) continue;
      const parsed = JSON.parse(res.stdout) as { nftables?: Array<Record<string, unknown>> };
      for (const item of parsed.nftables ?? []) {
        const s = item.set as { elem?: unknown[] } | undefined;
        for (const raw of s?.elem ?? []) {
          const e = (raw as { elem?: Record<string, unknown> }).elem ?? { val: raw };
          const concat = (e.val as { concat?: unknown[] } | undefined)?.concat;
          if (!Array.isArray(concat) || concat.length !== 3) continue;
          out.push({
            address: String(concat[0]),
            proto: String(concat[1]),
            port: Number(concat[2]),
            timeoutMs: typeof e.timeout === "number" ? e.timeout * 1000 : undefined,
            expiresMs: typeof e.expires === "number" ? e.expires * 1000 : undefined,
          });
        }
      }
    }
    return out;
  }

  /** Stops the reconcile probe and waits for queued changes (kernel elements stay). */
  async close(): Promise<void> {
    await this.#reconciler.stop();
    await this.flush();
  }

  /**
   * Removes what {@linkcode setup} created: the chain and both sets, then the table only
   * when nothing else is left in it. (A daemon normally does not call this on a restart:
   * grants keep their kernel timeouts and the next setup reconciles them with the store.)
   */
  async teardown(): Promise<void> {
    await this.close();
    this.#ready = false;
    await this.#serial.run(() => removeOwned(this.#cmd, GRANT_CHAIN, GRANT_SETS));
  }
}

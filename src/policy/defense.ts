/**
 * Source defense for the daemon: the {@linkcode SourceGate} (sync, per datagram), the
 * persistent {@linkcode BanList} and the optional nftables mirror {@linkcode NftBans},
 * wired together so the daemon needs a handful of calls:
 *
 * ```ts
 * const defense = new SourceDefense(server.rate_limit, store, { ports: [62201] });
 * await defense.start();                        // load bans, set up nftables, poll the store
 * const v = defense.admit(ip);                  // before any crypto
 * if (!v.ok) return drop(v.reason);
 * if (!opened.ok) defense.failed(ip, opened.reason);
 * else defense.succeeded(ip);                   // after the request authenticated
 * await defense.stop();                         // flush, tear nftables down if configured
 * ```
 *
 * Persisting and mirroring are fire-and-forget from the datagram path: `failed` returns at
 * once; store writes and nft batches run in the background and are awaited by `stop`.
 *
 * What counts as failed: every datagram that did not authenticate (bad size, bad mac1,
 * did not open, unknown user, bad authenticator) and replays. Not: authenticated requests
 * that the policy refused (a valid user asking for something not allowed is not an attack).
 *
 * With `rate_limit.nftables: true`, `start` throws when nft cannot be set up (e.g. no
 * CAP_NET_ADMIN): the operator asked for kernel drops, so the daemon should refuse to start
 * rather than silently run without them.
 * @module
 */
import type { StateStore } from "../state/store.ts";
import type { IpAddress } from "../util/ip.ts";
import { DropLogLimiter, logger } from "../util/log.ts";
import {
  type Ban,
  type RateLimitConfig,
  SourceGate,
  sourceTextOf,
  type Verdict,
} from "./ratelimit.ts";

/** State-store namespace of recently authenticated sources (`{until}`, expiring then). */
const PROVEN_NAMESPACE = "proven";
import { BanList } from "./bans.ts";
import { nftSource } from "../nft/address.ts";
import { NftBans, type NftBansOptions } from "../nft/bans.ts";
import type { BansBackend } from "../nft/backend.ts";
import type { ReconcileStatus } from "../nft/reconcile.ts";

/** Options for {@linkcode SourceDefense}. */
export interface SourceDefenseOptions {
  /** Clock (epoch ms). Default `Date.now`. */
  clock?: () => number;
  /** The daemon's UDP ports (for the nftables `ports` scope). */
  ports?: number[];
  /** nft argv prefix (tests run it inside a namespace). Default `["nft"]`. */
  nftCommand?: string[];
  /** How often to pick up bans changed by `siglatch bans` (ms); 0 = never. Default 5000. */
  refreshMs?: number;
  /** How often the nftables mirror checks that its objects still exist (ms). Default 3000. */
  nftReconcileMs?: number;
  /** Builds the ban mirror (default `NftBans` here; the privileged part's under privsep). */
  nftBans?: (opts: NftBansOptions) => BansBackend;
}

/** Gate + persistent bans + nftables mirror; see the module doc. */
export class SourceDefense {
  /** The per-datagram gate. */
  readonly gate: SourceGate;
  /** The persistent bans. */
  readonly banList: BanList;
  /** The nftables mirror, when `rate_limit.nftables` is on. */
  nft: BansBackend | null = null;
  readonly #clock: () => number;
  readonly #store: StateStore;
  readonly #refreshMs: number;
  readonly #nftCommand?: string[];
  readonly #nftReconcileMs: number;
  readonly #makeNft: (opts: NftBansOptions) => BansBackend;
  #ports: number[];
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #background = new Set<Promise<unknown>>();
  readonly #log = logger("policy", "bans");
  #persistErrors = 0;
  #refreshing: Promise<void> | null = null;
  /** Ban log lines are rate-limited like drop lines: a flood from many sources makes many bans. */
  readonly #banLog = new DropLogLimiter(10);

  /** Creates the defense for one `rate_limit` section over an open store. */
  constructor(cfg: RateLimitConfig, store: StateStore, opts: SourceDefenseOptions = {}) {
    this.gate = new SourceGate(cfg);
    this.banList = new BanList(store);
    this.#store = store;
    this.#clock = opts.clock ?? Date.now;
    this.#refreshMs = opts.refreshMs ?? 5000;
    this.#nftCommand = opts.nftCommand;
    this.#nftReconcileMs = opts.nftReconcileMs ?? 3000;
    this.#makeNft = opts.nftBans ?? ((o) => new NftBans(o));
    this.#ports = opts.ports ?? [];
  }

  /** Loads persisted bans into the gate, sets up nftables (if on) and starts polling the store. */
  async start(): Promise<void> {
    const now = this.#clock();
    const bans = await this.banList.load(now);
    for (const b of bans) this.gate.addBan(b, now);
    if (bans.length > 0) this.#log.info("restored {n} bans", { n: bans.length });
    let proven = 0;
    for (const r of await this.#store.list<unknown>(PROVEN_NAMESPACE, now)) {
      const until = (r.value as { until?: unknown } | null)?.until;
      let ok = typeof until === "number" && Number.isFinite(until);
      try {
        nftSource(r.key); // a canonical address or v6 prefix, as the gate writes them
      } catch {
        ok = false;
      }
      if (!ok) {
        this.#store.audit.reject(PROVEN_NAMESPACE, r.key, "not a canonical source with an end");
        continue;
      }
      if (this.gate.restoreProven(r.key, until as number, now)) proven++;
    }
    if (proven > 0) this.#log.info("restored {n} recently authenticated sources", { n: proven });
    if (this.gate.config.nftables) await this.#startNft();
    if (this.#refreshMs > 0) {
      const timer = setInterval(() => void this.refresh(), this.#refreshMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Sets up nftables; throws (and leaves `nft` null) when nft fails, e.g. without CAP_NET_ADMIN. */
  async #startNft(): Promise<void> {
    const cfg = this.gate.config;
    const nft = this.#makeNft({
      command: this.#nftCommand,
      scope: cfg.nftables_scope,
      ports: this.#ports,
      clock: this.#clock,
      onError: (message) => this.#log.warn("nftables ban batch failed: {message}", { message }),
      reconcileMs: this.#nftReconcileMs,
      onRepair: (missing) =>
        this.#log.warn("nftables bans restored after {missing} vanished", {
          missing: missing.join(", "),
        }),
    });
    await nft.setup(this.gate.bans(this.#clock()));
    this.nft = nft;
  }

  /** The gate's decision for a datagram from `ip` (sync, O(1)). */
  admit(ip: IpAddress): Verdict {
    return this.gate.admit(ip, this.#clock());
  }

  /**
   * Reports a failed datagram; a resulting ban is persisted, mirrored and logged in the
   * background. Only a datagram that proved its source (`sourceProven`: a valid mac2) can
   * lead to a ban; any other failure only costs its source tokens.
   */
  failed(ip: IpAddress, reason: string, sourceProven = false): Ban | null {
    const ban = this.gate.failed(ip, this.#clock(), reason, sourceProven);
    if (ban) this.#publish(ban);
    return ban;
  }

  /**
   * Reports an authenticated datagram from `ip`. A source that becomes recently
   * authenticated is written to the store (once per `proven_ttl`), so its exemption from
   * bans and pressure survives a restart.
   */
  succeeded(ip: IpAddress): void {
    const now = this.#clock();
    const wasProven = this.gate.provenUntil(ip) > now;
    this.gate.succeeded(ip, now);
    if (wasProven) return;
    const until = this.gate.provenUntil(ip);
    const source = sourceTextOf(ip, this.gate.config.ipv6_prefix);
    this.#track(
      this.#store.set(PROVEN_NAMESPACE, source, { until }, until).catch((err) =>
        this.#log.warn("could not persist proven source {source}: {err}", {
          source,
          err: String(err),
        })
      ),
    );
  }

  #track(job: Promise<unknown>): void {
    this.#background.add(job);
    job.finally(() => this.#background.delete(job));
  }

  /** True while the gate is in pressure mode. */
  get pressure(): boolean {
    return this.gate.pressure;
  }

  /** Bans made here or by an operator through the API (admin socket): gate + store + nft. */
  async ban(ban: Ban): Promise<boolean> {
    if (!this.gate.addBan(ban, this.#clock())) return false;
    this.nft?.ban(ban);
    await this.banList.add(ban);
    return true;
  }

  /** Lifts a ban everywhere; true when the gate had it. */
  async unban(source: string): Promise<boolean> {
    const had = this.gate.removeBan(source);
    this.nft?.unban(source);
    await this.banList.remove(source);
    return had;
  }

  #publish(ban: Ban): void {
    const suppressed = this.#banLog.take(this.#clock());
    if (suppressed >= 0) {
      this.#log.info(
        "banned src={source} reason={reason} until={until} count={count}",
        {
          decision: "banned",
          source: ban.source,
          reason: ban.reason,
          until: ban.until === null ? "permanent" : new Date(ban.until).toISOString(),
          count: ban.count,
          suppressed,
        },
      );
    }
    this.nft?.ban(ban);
    this.#track(
      this.banList.add(ban).catch((err) => {
        this.#persistErrors++;
        this.#log.error("could not persist ban of {source}: {err}", {
          source: ban.source,
          err: String(err),
        });
      }),
    );
  }

  /**
   * Picks up bans added or removed in the store by `siglatch bans` and sweeps old ban
   * histories. Runs every `refreshMs` by itself; callable any time.
   */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => this.#refreshing = null);
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    try {
      const now = this.#clock();
      const diff = await this.banList.diff(now);
      for (const b of diff.upserted) {
        if (this.gate.addBan(b, now)) this.nft?.ban(b);
      }
      for (const source of diff.removed) {
        if (this.gate.removeBan(source)) {
          this.nft?.unban(source);
          this.#log.info("ban of {source} lifted", { source });
        }
      }
      if (diff.upserted.length > 0) {
        this.#log.info("picked up {n} bans from the store", { n: diff.upserted.length });
      }
      this.gate.sweep(now);
    } catch (err) {
      this.#log.warn("could not refresh bans from the store: {err}", { err: String(err) });
    }
  }

  /** Applies a reloaded config (and listen ports). */
  async reconfigure(cfg: RateLimitConfig, ports: number[] = this.#ports): Promise<void> {
    const wasNft = this.gate.config.nftables;
    this.gate.reconfigure(cfg);
    this.#ports = ports;
    if (cfg.nftables && !wasNft) await this.#startNft();
    else if (!cfg.nftables && wasNft && this.nft) {
      await this.nft.teardown();
      this.nft = null;
    } else if (this.nft) await this.nft.reconfigure(cfg.nftables_scope, ports);
  }

  /** The ban mirror's last nftables reconcile; undefined when `rate_limit.nftables` is off. */
  reconcileStatus(): ReconcileStatus | undefined {
    return this.nft?.reconcileStatus();
  }

  /** Every counter (gate decisions, gauges, nft batches) as a fresh plain object. */
  counters(): Record<string, number> {
    const out: Record<string, number> = this.gate.snapshot(this.#clock());
    out.ban_persist_errors = this.#persistErrors;
    if (this.nft) {
      for (const [k, v] of Object.entries(this.nft.counters)) out[`nft_${k}`] = v;
      out.nft_pending = this.nft.pending;
    }
    return out;
  }

  /** Stops polling, waits for pending writes and nft batches, removes nftables objects if configured. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#refreshing;
    await Promise.allSettled([...this.#background]);
    if (this.nft) {
      try {
        if (this.gate.config.nftables_remove_on_shutdown) await this.nft.teardown();
        else await this.nft.close();
      } catch (err) {
        this.#log.warn("nftables teardown failed: {err}", { err: String(err) });
      }
    }
  }
}

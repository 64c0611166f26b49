/**
 * The privileged part's side of the channel: the few things that need root, each request
 * re-checked against the config this process loaded itself. It runs exec actions by name
 * (argv, run_as, limits from its own config: {@linkcode resolveRun}), changes nftables only
 * through the leaf package with ports and lifetimes the config allows, and hands out the
 * key material of its config. Anything else is refused and logged. It keeps no state of
 * its own: the network part keeps grants, timers and bans and asks for their side effects.
 * @module
 */
import { logger } from "../util/log.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import {
  buildRuntime,
  type KeyMaterial,
  readKeyMaterial,
  type Runtime,
} from "../daemon/runtime.ts";
import { Limiter, QueueFullError } from "../actions/limiter.ts";
import { localRunner } from "../actions/runner.ts";
import { logPlugins } from "../plugins/report.ts";
import { NftGrants } from "../nft/grants.ts";
import { NftBans } from "../nft/bans.ts";
import { monotonicUsec, notifyBindPath, sdNotify, validNotifyState } from "../systemd/notify.ts";
import {
  BadMessage,
  decodeRunSpec,
  encodeExecResult,
  encodeKeys,
  int,
  ports,
  record,
  str,
} from "./codec.ts";

/** Slack on a grant's lifetime beyond the longest the config allows (ms). */
const TTL_SLACK_MS = 5_000;

/** The privileged operations. */
export class PrivilegedOps {
  #config: Config;
  #runtime: Runtime;
  #material: KeyMaterial;
  readonly #configPath: string;
  readonly #limiter: Limiter;
  readonly #abort = new AbortController();
  readonly #log = logger("privileged");
  #grants?: NftGrants;
  #bans?: NftBans;

  private constructor(path: string, config: Config, runtime: Runtime, material: KeyMaterial) {
    this.#configPath = path;
    this.#config = config;
    this.#runtime = runtime;
    this.#material = material;
    this.#limiter = new Limiter(
      config.execution.max_concurrent + config.execution.deaddrop_concurrent,
      config.execution.queue + config.execution.deaddrop_queue,
    );
  }

  /** Loads `config` (already validated, read from `path`) with its keys. */
  static async load(path: string, config: Config): Promise<PrivilegedOps> {
    const material = await readKeyMaterial(config);
    const runtime = await buildRuntime(config, Date.now, material);
    const ops = new PrivilegedOps(path, config, runtime, material);
    logPlugins(ops.#log, runtime.plugins, config.actions);
    return ops;
  }

  /** The loaded config. */
  get config(): Config {
    return this.#config;
  }

  /** Re-reads the config file and its keys; the old ones stay on any error. */
  async reload(): Promise<void> {
    const res = await loadConfig(this.#configPath);
    if (!res.ok) {
      throw new Error(
        res.findings.filter((f) => f.severity === "error")
          .map((f) => `${f.file}:${f.line}:${f.col}: ${f.path}: ${f.message}`).join("\n"),
      );
    }
    const material = await readKeyMaterial(res.config);
    const runtime = await buildRuntime(res.config, Date.now, material);
    logPlugins(this.#log, runtime.plugins, res.config.actions, this.#runtime.plugins);
    this.#config = res.config;
    this.#runtime = runtime;
    this.#material = material;
    this.#limiter.max = res.config.execution.max_concurrent +
      res.config.execution.deaddrop_concurrent;
    this.#limiter.queue = res.config.execution.queue + res.config.execution.deaddrop_queue;
  }

  /** Serves one request; a refusal is logged and rejected with its reason. */
  async handle(op: string, args: unknown, emit?: (event: unknown) => void): Promise<unknown> {
    try {
      return await this.#handle(op, args, emit);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (!(err instanceof QueueFullError)) {
        this.#log.warn("refused {op} from the network part: {why}", { op, why });
      }
      throw err;
    }
  }

  async #handle(op: string, args: unknown, emit?: (event: unknown) => void): Promise<unknown> {
    switch (op) {
      case "keys":
        return encodeKeys(this.#material);
      case "notify": {
        const state = record(args).state;
        if (!validNotifyState(state)) throw new BadMessage("notify: not an allowed state");
        // The network part has no FFI to read CLOCK_MONOTONIC: the stamp is added here.
        const usec = /^RELOADING=1$/m.test(state) && !state.includes("MONOTONIC_USEC")
          ? monotonicUsec()
          : undefined;
        return await sdNotify(usec === undefined ? state : `${state}\nMONOTONIC_USEC=${usec}`, {
          bind: notifyBindPath(this.#config.admin.socket),
        });
      }
      case "reload":
        await this.reload();
        return encodeKeys(this.#material);
      case "run": {
        const spec = decodeRunSpec(args);
        const runner = localRunner(() => this.#runtime, this.#abort.signal);
        // Output as it is read, when the network part asked for it (a session's stream).
        const live = emit && record(args).stream === true
          ? (fd: 1 | 2, chunk: Uint8Array) => emit({ fd, data: chunk.toBase64() })
          : undefined;
        return encodeExecResult(await this.#limiter.run(() => runner.run(spec, live)));
      }
      case "grants.setup":
        return await this.#grantsSetup(args);
      case "grants.grant": {
        const a = record(args);
        const address = str(a.address, "address", 64);
        const p = this.#firewallPorts(ports(a.ports));
        const ttl = int(a.ttlMs, "ttl", 1, this.#maxTtl());
        return await this.#grantsOrFail().grant(address, p, ttl);
      }
      case "grants.revoke": {
        const a = record(args);
        const address = str(a.address, "address", 64);
        const p = this.#firewallPorts(ports(a.ports));
        return await this.#grantsOrFail().revoke(address, p);
      }
      case "grants.list":
        return await this.#grantsOrFail().list();
      case "grants.flush":
        return await this.#grantsOrFail().flush();
      case "grants.status":
        return this.#grantsOrFail().reconcileStatus();
      case "grants.close":
        return await this.#grants?.close();
      case "grants.teardown":
        return await this.#grants?.teardown();
      case "bans.setup":
        return await this.#bansSetup(args);
      case "bans.ban": {
        const a = record(args);
        const until = a.until === null ? null : int(a.until, "until");
        this.#bansOrFail().ban({ source: str(a.source, "source", 64), until });
        return null;
      }
      case "bans.unban":
        this.#bansOrFail().unban(str(record(args).source, "source", 64));
        return null;
      case "bans.reconfigure":
        return await this.#bansOrFail().reconfigure(
          this.#config.rate_limit.nftables_scope,
          this.#listenPorts(),
        );
      case "bans.status": {
        const b = this.#bansOrFail();
        return { status: b.reconcileStatus(), counters: b.counters, pending: b.pending };
      }
      case "bans.flush":
        return await this.#bansOrFail().flush();
      case "bans.close":
        return await this.#bans?.close();
      case "bans.teardown":
        return await this.#bans?.teardown();
    }
    throw new BadMessage(`unknown operation ${str(op, "op", 64)}`);
  }

  async #grantsSetup(args: unknown): Promise<null> {
    if (!this.#config.actions.some((a) => a.type === "firewall")) {
      throw new Error("the config has no firewall action");
    }
    const list = record(args).grants;
    if (!Array.isArray(list) || list.length > 100_000) throw new BadMessage("grants");
    const initial = list.map((g) => {
      const r = record(g, "grant");
      return {
        address: str(r.address, "address", 64),
        ports: this.#firewallPorts(ports(r.ports)),
        expiresAt: int(r.expiresAt, "expiry"),
      };
    });
    if (!this.#grants) {
      const fw = this.#config.firewall;
      this.#grants = new NftGrants({
        priority: fw.nft_priority,
        mark: fw.nft_mark,
        guard: fw.guard_ports,
        reconcileMs: 3000,
        onError: (m) => this.#log.error("nftables: {m}", { m }),
        onRepair: (m) =>
          this.#log.warn("nftables grants restored after {m} vanished", { m: m.join(", ") }),
      });
    }
    await this.#grants.setup(initial);
    return null;
  }

  async #bansSetup(args: unknown): Promise<null> {
    if (!this.#config.rate_limit.nftables) throw new Error("rate_limit.nftables is off");
    const list = record(args).bans;
    if (!Array.isArray(list) || list.length > 10_000_000) throw new BadMessage("bans");
    const bans = list.map((b) => {
      const r = record(b, "ban");
      return {
        source: str(r.source, "source", 64),
        until: r.until === null ? null : int(r.until, "until"),
      };
    });
    if (!this.#bans) {
      this.#bans = new NftBans({
        scope: this.#config.rate_limit.nftables_scope,
        ports: this.#listenPorts(),
        reconcileMs: 3000,
        onError: (message) => this.#log.warn("nftables ban batch failed: {message}", { message }),
        onRepair: (m) =>
          this.#log.warn("nftables bans restored after {m} vanished", { m: m.join(", ") }),
      });
    }
    await this.#bans.setup(bans);
    return null;
  }

  #grantsOrFail(): NftGrants {
    if (!this.#grants) throw new Error("grants not set up");
    return this.#grants;
  }

  #bansOrFail(): NftBans {
    if (!this.#bans) throw new Error("bans not set up");
    return this.#bans;
  }

  /** `wanted` when every port is a port some firewall action opens; else a refusal. */
  #firewallPorts(wanted: ReturnType<typeof ports>): ReturnType<typeof ports> {
    const allowed = new Set(
      this.#config.actions.flatMap((a) => a.firewall?.ports ?? []).map((p) =>
        `${p.proto}/${p.port}`
      ),
    );
    for (const p of wanted) {
      if (!allowed.has(`${p.proto}/${p.port}`)) {
        throw new Error(`${p.proto}/${p.port} is not a port of any firewall action`);
      }
    }
    return wanted;
  }

  /** The longest a grant may last under the config. */
  #maxTtl(): number {
    let max = 0;
    for (const a of this.#config.actions) {
      if (!a.firewall) continue;
      max = Math.max(max, a.firewall.duration, a.max_lifetime ?? 0, a.keepalive ?? 0);
    }
    return max + TTL_SLACK_MS;
  }

  #listenPorts(): number[] {
    return [...new Set(this.#config.servers.flatMap((s) => s.listen.map((l) => l.port)))];
  }

  /** Kills running actions and closes the nftables objects as the config says. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#limiter.idle(3000);
  }
}

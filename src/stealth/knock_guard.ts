/**
 * Keeps the kernel's knock rules (`src/nft/knock.ts`) in line with the config and the clock:
 * written at start, rewritten at every window change of a derived sequence and after a
 * reload, re-applied now and then in case someone flushed the ruleset, removed at stop. Runs
 * where nftables may be changed: the privileged part, or a daemon without privilege
 * separation. A daemon asked for knocks that cannot install them refuses to start (its
 * port would otherwise be open to all). A server that also hops (`port_hopping`) is guarded
 * on its hopping ports: the previous one during the overlap, the current one and already the
 * next one (the rules are rewritten just after each change, and the new port must not be
 * open to all in between); sources that knocked stay in the finished set across rewrites.
 * @module
 */
import type { Config, ServerConfig } from "../config/schema.ts";
import { readHmacKey } from "../crypto/keyfile.ts";
import { type KnockGuardRules, knockRulesScript, MAX_SEQUENCES } from "../nft/knock.ts";
import { applyKnockScript, removeKnockTable } from "../nft/knock_apply.ts";
import { logger } from "../util/log.ts";
import { hopPort, knockSequence, msToNextWindow, windowOf } from "./derive.ts";
import { hopPortsAt } from "./hopping.ts";

/** Rules are re-applied at least this often even when unchanged (repair after a flush). */
const REPAIR_MS = 5_000;

/** Options of {@linkcode KnockGuard.start}. */
export interface KnockGuardOptions {
  /** The running config (read again at every refresh: reloads are picked up). */
  config: () => Config;
  /** The nft argv (default `["nft"]`). */
  nft?: readonly string[];
  /** Clock (epoch ms). */
  clock?: () => number;
}

/** True when some enabled server asks for knocks. */
export function wantsKnock(config: Config): boolean {
  return config.servers.some((s) => s.enabled && s.knock !== undefined);
}

/** The users whose derived sequences open server `s`. */
function usersOf(config: Config, s: ServerConfig) {
  return config.users.filter((u) => u.enabled && (!u.servers || u.servers.includes(s.name)));
}

/** The UDP ports of server `s` the knock rules guard at `now`. */
function guardedPorts(
  s: ServerConfig,
  now: number,
  secrets: ReadonlyMap<string, Uint8Array>,
): number[] {
  const h = s.port_hopping;
  if (!h) return [...new Set(s.listen.map((l) => l.port))];
  const secret = secrets.get(h.secret_file);
  if (!secret) throw new Error(`port_hopping secret ${h.secret_file} not loaded`);
  const next = hopPort(secret, windowOf(now, h.period) + 1, h.range);
  return [...new Set([...hopPortsAt(secret, h, now), next])];
}

/** The kernel rules the config asks for at `now` (secrets by path). */
export function guardRules(
  config: Config,
  now: number,
  secrets: ReadonlyMap<string, Uint8Array>,
): KnockGuardRules[] {
  const out: KnockGuardRules[] = [];
  config.servers.forEach((s, i) => {
    const k = s.knock;
    if (!s.enabled || !k) return;
    const serverPorts = guardedPorts(s, now, secrets);
    const base = {
      id: `g${i}`,
      serverPorts,
      proto: k.proto,
      windowMs: k.window,
      openMs: k.open_for,
    };
    if (k.ports) {
      out.push({ ...base, space: { ports: k.ports }, sequences: [{ id: "q", ports: k.ports }] });
      return;
    }
    const d = k.derived!;
    const secret = secrets.get(d.secret_file);
    if (!secret) throw new Error(`knock secret ${d.secret_file} not loaded`);
    const window = windowOf(now, d.period);
    const users = usersOf(config, s);
    const sequences = users.map((u) => ({
      id: `u${u.id}`,
      ports: knockSequence(secret, u.id, window, d.length, d.range),
    }));
    // In the grace after a change, last window's sequences open too (when they fit).
    if (now - window * d.period < d.grace && 2 * users.length <= MAX_SEQUENCES) {
      sequences.push(...users.map((u) => ({
        id: `u${u.id}p`,
        ports: knockSequence(secret, u.id, window - 1, d.length, d.range),
      })));
    }
    out.push({ ...base, space: { range: [d.range[0], d.range[1]] }, sequences });
  });
  return out;
}

/** The knock rules of one process, kept up to date until {@linkcode KnockGuard.stop}. */
export class KnockGuard {
  readonly #opts: KnockGuardOptions;
  readonly #nft: readonly string[];
  readonly #clock: () => number;
  readonly #log = logger("knock");
  readonly #secrets = new Map<string, Uint8Array>();
  #last = "";
  #lastAt = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #stopped = false;
  #busy: Promise<void> = Promise.resolve();

  private constructor(opts: KnockGuardOptions) {
    this.#opts = opts;
    this.#nft = opts.nft ?? ["nft"];
    this.#clock = opts.clock ?? Date.now;
  }

  /** Installs the rules (throws when nft refuses) and keeps them current; none when unasked. */
  static async start(opts: KnockGuardOptions): Promise<KnockGuard | undefined> {
    if (!wantsKnock(opts.config())) return undefined;
    const g = new KnockGuard(opts);
    await g.refresh(true);
    g.#schedule();
    return g;
  }

  /** Renders the rules for now and applies them when they changed (or `force`). */
  async refresh(force = false): Promise<void> {
    const config = this.#opts.config();
    for (const s of config.servers) {
      if (!s.knock) continue;
      for (const file of [s.knock.derived?.secret_file, s.port_hopping?.secret_file]) {
        if (file && !this.#secrets.has(file)) this.#secrets.set(file, await readHmacKey(file));
      }
    }
    const now = this.#clock();
    const script = knockRulesScript(guardRules(config, now, this.#secrets));
    if (!force && script === this.#last && now - this.#lastAt < REPAIR_MS) return;
    await applyKnockScript(this.#nft, script);
    if (script !== this.#last) this.#log.info("knock rules installed");
    this.#last = script;
    this.#lastAt = now;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const config = this.#opts.config();
    const now = this.#clock();
    let wait = REPAIR_MS;
    for (const s of config.servers) {
      const h = s.port_hopping;
      if (s.enabled && s.knock && h) {
        wait = Math.min(wait, msToNextWindow(now, h.period) + 5);
        const into = now - windowOf(now, h.period) * h.period;
        if (into < h.overlap) wait = Math.min(wait, h.overlap - into + 5);
      }
      const d = s.knock?.derived;
      if (!s.enabled || !d) continue;
      wait = Math.min(wait, msToNextWindow(now, d.period) + 5);
      const into = now - windowOf(now, d.period) * d.period;
      if (into < d.grace) wait = Math.min(wait, d.grace - into + 5);
    }
    this.#timer = setTimeout(() => {
      this.#busy = this.refresh().catch((err) =>
        this.#log.error("knock rules not updated: {err}", { err: String(err) })
      ).finally(() => this.#schedule());
    }, wait);
  }

  /** Stops the timer and removes the knock table. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#busy;
    await removeKnockTable(this.#nft);
  }
}

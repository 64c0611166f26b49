/**
 * Port hopping: a server with `port_hopping` listens, on each of its listen hosts, on the
 * port derived from its secret for the current window (`derive.ts`), and for `overlap` after
 * a change also on the previous window's port (a client whose request left just before the
 * change is still heard). The listeners are re-synced at every change; a scan sees a port
 * that is gone one period later.
 * @module
 */
import type { Config, ServerConfig } from "../config/schema.ts";
import { readHmacKey } from "../crypto/keyfile.ts";
import { hopPort, msToNextWindow, windowOf } from "./derive.ts";

/** Reads every hopping secret of `config` (before the process drops its privileges). */
export async function readHopSecrets(config: Config): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const s of config.servers) {
    const f = s.port_hopping?.secret_file;
    if (f && !out.has(f)) out.set(f, await readHmacKey(f));
  }
  return out;
}

/** The ports a hopping server listens on at `now` (current, plus the previous in the overlap). */
export function hopPortsAt(
  secret: Uint8Array,
  hop: { range: readonly [number, number]; period: number; overlap: number },
  now: number,
): number[] {
  const w = windowOf(now, hop.period);
  const current = hopPort(secret, w, hop.range);
  const into = now - w * hop.period;
  if (into >= hop.overlap) return [current];
  const previous = hopPort(secret, w - 1, hop.range);
  return previous === current ? [current] : [current, previous];
}

/** Keeps hopping servers' listeners on their current ports. */
export class PortHopper {
  readonly #secrets: ReadonlyMap<string, Uint8Array>;
  readonly #sync: (servers: ServerConfig[]) => void;
  readonly #clock: () => number;
  readonly #onError: (err: unknown) => void;
  #servers: readonly ServerConfig[] = [];
  #timer?: ReturnType<typeof setTimeout>;

  /** `sync` opens and closes sockets for the servers it is given (`Listeners.sync`). */
  constructor(
    secrets: ReadonlyMap<string, Uint8Array>,
    sync: (servers: ServerConfig[]) => void,
    clock: () => number,
    onError: (err: unknown) => void,
  ) {
    this.#secrets = secrets;
    this.#sync = sync;
    this.#clock = clock;
    this.#onError = onError;
  }

  /** The servers with hopping listen ports for `now` in place of the configured ones. */
  resolve(servers: readonly ServerConfig[], now: number): ServerConfig[] {
    return servers.map((s) => {
      const hop = s.port_hopping;
      if (!hop) return s;
      const secret = this.#secrets.get(hop.secret_file);
      if (!secret) {
        throw new Error(`port_hopping secret ${hop.secret_file} not loaded (restart to read it)`);
      }
      const ports = hopPortsAt(secret, hop, now);
      const hosts = [...new Map(s.listen.map((l) => [l.host, l])).values()];
      return { ...s, listen: hosts.flatMap((l) => ports.map((port) => ({ ...l, port }))) };
    });
  }

  /** Syncs the listeners for `servers` now and at every later change. Throws like `sync`. */
  apply(servers: readonly ServerConfig[]): void {
    this.#servers = servers;
    clearTimeout(this.#timer);
    const now = this.#clock();
    this.#sync(this.resolve(servers, now));
    let wait = Infinity;
    for (const s of servers) {
      const hop = s.port_hopping;
      if (!hop || !s.enabled) continue;
      const into = now - windowOf(now, hop.period) * hop.period;
      wait = Math.min(
        wait,
        into < hop.overlap ? hop.overlap - into : msToNextWindow(now, hop.period),
      );
    }
    if (wait === Infinity) return;
    this.#timer = setTimeout(() => this.#tick(), wait + 2);
  }

  #tick(): void {
    try {
      this.apply(this.#servers);
    } catch (err) {
      this.#onError(err);
      this.#timer = setTimeout(() => this.#tick(), 1000);
    }
  }

  /** Stops hopping (the listeners stay as they are until closed). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

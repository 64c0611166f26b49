/**
 * Server decoys: fake services on ports no client uses, to waste a scanner's time and to
 * tell the operator someone is looking. Three kinds:
 *
 * - `banner` (TCP): the configured greeting, then close.
 * - `tarpit` (TCP): the connection is held open and fed one random printable byte per
 *   `interval` (lines an SSH client must skip before the version line), at most
 *   `max_connections` at once per decoy; more are closed at once.
 * - `random` (UDP): random bytes back to the datagram's source only, at least half and never
 *   more than the datagram's length (no amplification; an empty datagram gets nothing).
 *
 * Every answer (greeting, tarpit slot, datagram) costs a token of the source's bucket and of
 * the global bucket; without both: silence (TCP: closed). Sources are tracked in a bounded
 * LRU table. A source the daemon has banned gets nothing at all (`banned`; TCP: closed at
 * once). Every hit is counted (`decoy_hits`, `decoy_<type>_hits`, `decoy_answers`,
 * `decoy_limited`, `decoy_full`, `decoy_banned`); with `ban` a hit is reported as a proven failure
 * (`onHit`). The sockets are bound by {@linkcode Decoys.bind} (before privileges drop) and
 * served from {@linkcode Decoys.start}.
 * @module
 */
import type { DecoysConfig } from "../config/schema.ts";
import { BucketMap, TokenBucket } from "../policy/buckets.ts";
import { logger } from "../util/log.ts";

/** Receive buffer of a UDP decoy (longer datagrams are truncated to it, never answered larger). */
const UDP_BUFFER = 2048;
/** Characters a tarpit dribbles (no `S`: a line starting `SSH-` would end the client's wait). */
const DRIBBLE = new TextEncoder().encode(
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRTUVWXYZ0123456789 ",
);

/** What decoys report to the daemon. */
export interface DecoyHooks {
  /** Adds one to a counter (`status`). */
  count(name: string): void;
  /** A hit from `ip` when `decoys.ban` is on (the daemon counts it towards a ban). */
  onHit?(ip: string): void;
  /** True when `ip` is banned now (it then gets no answer). */
  banned?(ip: string): boolean;
  /** Clock (ms). */
  clock?: () => number;
}

/** Per-source and global token buckets for decoy answers. */
export class DecoyLimiter {
  readonly #global: TokenBucket;
  readonly #perSource: BucketMap;

  /** Creates the buckets from the `decoys` section. */
  constructor(cfg: Pick<DecoysConfig, "rate" | "per_source_rate" | "max_sources">) {
    this.#global = new TokenBucket(cfg.rate, Math.max(1, cfg.rate));
    this.#perSource = new BucketMap(
      cfg.per_source_rate,
      Math.max(1, cfg.per_source_rate),
      cfg.max_sources,
    );
  }

  /** Sources tracked now (at most `max_sources`). */
  get sources(): number {
    return this.#perSource.size;
  }

  /** True when `ip` may get an answer at `now` (takes a token of both buckets). */
  allow(ip: string, now: number): boolean {
    return this.#perSource.take(ip, now) && this.#global.take(now);
  }
}

/** The length of a random answer to a datagram of `received` bytes: in [⌈n/2⌉, n]. */
export function answerLength(received: number, random: number = Math.random()): number {
  if (received <= 0) return 0;
  const lo = Math.ceil(received / 2);
  return Math.min(received, lo + Math.floor(random * (received - lo + 1)));
}

type Bound =
  | { kind: "tcp"; type: "banner" | "tarpit"; listener: Deno.TcpListener; port: PortCfg }
  | { kind: "udp"; conn: Deno.DatagramConn; port: PortCfg };
type PortCfg = DecoysConfig["ports"][number];

/** The decoy sockets of one process. */
export class Decoys {
  readonly #cfg: DecoysConfig;
  readonly #bound: Bound[];
  readonly #conns = new Set<Deno.Conn>();
  readonly #log = logger("decoys");
  #limiter: DecoyLimiter;
  #hooks: DecoyHooks = { count: () => {} };
  readonly #held = new Map<PortCfg, number>();
  readonly #abort = new AbortController();
  #stopped = false;
  #tarpitted = 0;

  private constructor(cfg: DecoysConfig, bound: Bound[]) {
    this.#cfg = cfg;
    this.#bound = bound;
    this.#limiter = new DecoyLimiter(cfg);
  }

  /** Binds every decoy socket now (throws, with nothing left open, when one cannot bind). */
  static bind(cfg: DecoysConfig): Decoys {
    const bound: Bound[] = [];
    try {
      for (const port of cfg.ports) {
        for (const l of port.listen) {
          if (port.type === "random") {
            const conn = Deno.listenDatagram({ transport: "udp", hostname: l.host, port: l.port });
            bound.push({ kind: "udp", conn, port });
          } else {
            const listener = Deno.listen({ transport: "tcp", hostname: l.host, port: l.port });
            bound.push({ kind: "tcp", type: port.type, listener, port });
          }
        }
      }
    } catch (err) {
      for (const b of bound) (b.kind === "udp" ? b.conn : b.listener).close();
      throw new Error(`decoy: ${err instanceof Error ? err.message : err}`);
    }
    return new Decoys(cfg, bound);
  }

  /** `host:port/proto` of every decoy socket. */
  addresses(): string[] {
    return this.#bound.map((b) => {
      const a = (b.kind === "udp" ? b.conn.addr : b.listener.addr) as Deno.NetAddr;
      return `${a.hostname}:${a.port}/${b.kind}`;
    });
  }

  /** Connections held by tarpits now. */
  get tarpitted(): number {
    return this.#tarpitted;
  }

  /** Serves every decoy until {@linkcode Decoys.stop}. */
  start(hooks: DecoyHooks): void {
    this.#hooks = hooks;
    for (const b of this.#bound) {
      const loop = b.kind === "udp" ? this.#udp(b.conn) : this.#tcp(b.listener, b.type, b.port);
      loop.catch((err) => {
        if (!this.#stopped) this.#log.error("decoy stopped: {err}", { err: String(err) });
      });
    }
    if (this.#bound.length > 0) {
      this.#log.info("decoys on {addresses}", { addresses: this.addresses().join(", ") });
    }
  }

  #now(): number {
    return (this.#hooks.clock ?? Date.now)();
  }

  /** Counts a hit (and reports it with `ban`); false when `ip` is banned: no answer. */
  #hit(type: string, ip: string): boolean {
    this.#hooks.count("decoy_hits");
    this.#hooks.count(`decoy_${type}_hits`);
    if (this.#hooks.banned?.(ip)) {
      this.#hooks.count("decoy_banned");
      return false;
    }
    if (this.#cfg.ban) this.#hooks.onHit?.(ip);
    return true;
  }

  async #udp(conn: Deno.DatagramConn): Promise<void> {
    const buf = new Uint8Array(UDP_BUFFER);
    while (!this.#stopped) {
      const [data, from] = await conn.receive(buf);
      const src = from as Deno.NetAddr;
      if (!this.#hit("random", src.hostname)) continue;
      const n = answerLength(data.length);
      if (n === 0) continue;
      if (!this.#limiter.allow(src.hostname, this.#now())) {
        this.#hooks.count("decoy_limited");
        continue;
      }
      const answer = crypto.getRandomValues(new Uint8Array(n));
      // Only ever to the datagram's own source.
      conn.send(answer, src).then(
        () => this.#hooks.count("decoy_answers"),
        () => this.#hooks.count("decoy_errors"),
      );
    }
  }

  async #tcp(listener: Deno.TcpListener, type: "banner" | "tarpit", port: PortCfg): Promise<void> {
    for await (const conn of listener) {
      const ip = (conn.remoteAddr as Deno.NetAddr).hostname;
      if (!this.#hit(type, ip)) {
        close(conn);
        continue;
      }
      const held = this.#held.get(port) ?? 0;
      if (held >= port.max_connections) {
        this.#hooks.count("decoy_full");
        close(conn);
        continue;
      }
      if (!this.#limiter.allow(ip, this.#now())) {
        this.#hooks.count("decoy_limited");
        close(conn);
        continue;
      }
      this.#held.set(port, held + 1);
      this.#conns.add(conn);
      const serve = type === "banner" ? this.#banner(conn, port) : this.#tarpit(conn, port);
      serve.catch(() => {}).finally(() => {
        this.#held.set(port, (this.#held.get(port) ?? 1) - 1);
        this.#conns.delete(conn);
        close(conn);
      });
    }
  }

  async #banner(conn: Deno.Conn, port: PortCfg): Promise<void> {
    await writeAll(conn, new TextEncoder().encode(port.banner));
    this.#hooks.count("decoy_answers");
  }

  async #tarpit(conn: Deno.Conn, port: PortCfg): Promise<void> {
    this.#tarpitted++;
    this.#hooks.count("decoy_answers");
    try {
      let col = 0;
      while (!this.#stopped) {
        await this.#sleep(port.interval);
        if (this.#stopped) break;
        const byte = col >= 30 ? 10 : DRIBBLE[
          crypto.getRandomValues(new Uint8Array(1))[0] %
          DRIBBLE.length
        ];
        col = byte === 10 ? 0 : col + 1;
        await conn.write(new Uint8Array([byte]));
      }
    } finally {
      this.#tarpitted--;
    }
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#abort.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done);
    });
  }

  /** Closes every decoy socket and connection. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#abort.abort();
    for (const b of this.#bound) close(b.kind === "udp" ? b.conn : b.listener);
    for (const c of this.#conns) close(c);
    this.#conns.clear();
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

function close(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}

/**
 * Sessions through a relay (docs/RELAY.md, PROTOCOL §19): after a relay forwarded a request
 * whose layer carries the `Session` flag and the next hop answered, it keeps the socket it
 * forwarded from as a path for the client's address and port. The client's later session
 * datagrams (PROTOCOL §18: id and counter in the clear, the rest sealed end to end) go out
 * through that socket unchanged, and datagrams the next hop sends back to it go to the client
 * through the server socket the opening came in on. The relay cannot read them; the next hop
 * (the final server, or the next relay) sees the path socket as the session's address.
 *
 * The relay never sees the session id (it travels in the sealed reply), so a path learns it:
 * until bound, a session-shaped datagram from exactly the client's address and port is
 * forwarded (at most {@linkcode MAX_UNBOUND_FORWARDS}) and its id noted; the first datagram
 * from the next hop carrying one of those ids binds the path to it. The next hop answers only
 * datagrams sealed under the session key, so an attacker who spoofs the client's address can
 * waste the unbound budget but never bind an id of its own. Once bound, only that id passes,
 * in both directions; another address or another id gets silence. Bounded: at most
 * {@linkcode RELAY_MAX_PATHS} paths, each ends when unbound after {@linkcode BIND_MS}, idle for
 * {@linkcode IDLE_MS}, after {@linkcode LIFETIME_MS}, or when the same client opens a new one.
 * @module
 */
import { sessionIdOf } from "../wire/session.ts";
import { MAX_REPLY_DATAGRAM } from "../wire/mod.ts";
import type { IpAddress } from "../util/ip.ts";

/** Paths held at once, every relay action of the daemon together (each holds one socket). */
export const RELAY_MAX_PATHS = 256;
/** A path whose id the next hop has not confirmed by then ends, ms. */
export const BIND_MS = 30_000;
/** A path without a datagram either way for this long ends (the final server's default idle
 * is 60 s), ms. */
export const IDLE_MS = 120_000;
/** A path ends after this however busy (the final server's default lifetime is 1 h), ms. */
export const LIFETIME_MS = 6 * 3600_000;
/** Datagrams forwarded for a path before the next hop confirmed its id. */
export const MAX_UNBOUND_FORWARDS = 64;
/** Ids noted while unbound (the client uses one; a spoofer may add a few). */
const MAX_TRIED_IDS = 8;
/** How often ended paths are swept, ms. */
const SWEEP_MS = 5_000;

/** What a path sends its client's datagrams back through (the server socket). */
export interface PathChannel {
  /** Sends one datagram to `to`; never throws. */
  send(datagram: Uint8Array, to: Deno.NetAddr): void;
  /** True once the channel cannot send any more. */
  readonly closed: boolean;
}

/** Who opened a path, for the relay's policy to decide again (user, relay action, source). */
export interface PathOwner {
  /** The server the opening arrived on. */
  server: string;
  /** The user who opened it. */
  userId: number;
  /** The relay action it went through. */
  actionId: number;
  /** The client's address. */
  ip: IpAddress;
}

/** A path to open, as the relay handler hands it over. */
export interface NewPath {
  /** The client's address and port (the opening request's source). */
  client: { hostname: string; port: number };
  /** The server socket the opening came in on. */
  channel: PathChannel;
  /** The socket the opening was forwarded from; the table owns it from now on. */
  conn: Deno.DatagramConn;
  /** The next hop. */
  to: Deno.NetAddr;
  /** Who opened it (checked again by `allowed` before each forward). */
  owner?: PathOwner;
}

interface Path extends NewPath {
  back: Deno.NetAddr;
  key: string;
  id?: bigint;
  tried: bigint[];
  unboundLeft: number;
  created: number;
  last: number;
  ended: boolean;
}

/** Options of {@linkcode RelayPaths}. */
export interface RelayPathsOptions {
  /** Clock, ms. */
  clock?: () => number;
  /** Adds to a daemon counter. */
  count?: (name: string) => void;
  /** True when a datagram is a request for this daemon itself (never taken as a session's). */
  isOwn?: (datagram: Uint8Array) => boolean;
  /** Most paths (default {@linkcode RELAY_MAX_PATHS}). */
  max?: number;
  /** The relay's policy, decided again before each datagram from the client is forwarded. */
  allowed?: (owner: PathOwner) => boolean;
}

function keyOf(a: { hostname: string; port: number }): string {
  return `${a.hostname}|${a.port}`;
}

/** The relay's session paths. */
export class RelayPaths {
  readonly #paths = new Map<string, Path>();
  readonly #clock: () => number;
  readonly #count: (name: string) => void;
  readonly #isOwn: (datagram: Uint8Array) => boolean;
  readonly #max: number;
  readonly #allowed: (owner: PathOwner) => boolean;
  #sweeper?: ReturnType<typeof setInterval>;

  /** An empty table. */
  constructor(opts: RelayPathsOptions = {}) {
    this.#clock = opts.clock ?? Date.now;
    this.#count = opts.count ?? (() => {});
    this.#isOwn = opts.isOwn ?? (() => false);
    this.#max = opts.max ?? RELAY_MAX_PATHS;
    this.#allowed = opts.allowed ?? (() => true);
  }

  /** Paths held. */
  get size(): number {
    return this.#paths.size;
  }

  /** True when a path for `client` can be opened (its old one would be replaced). */
  hasRoom(client: { hostname: string; port: number }): boolean {
    if (this.#paths.size < this.#max || this.#paths.has(keyOf(client))) return true;
    this.#sweep();
    return this.#paths.size < this.#max;
  }

  /**
   * Takes over `p.conn` as the path of `p.client` (ending that client's previous path).
   * Returns false, closing the socket, when the table is full.
   */
  add(p: NewPath): boolean {
    const key = keyOf(p.client);
    this.#paths.get(key) && this.#end(this.#paths.get(key)!);
    if (!this.hasRoom(p.client)) {
      p.conn.close();
      return false;
    }
    const now = this.#clock();
    const path: Path = {
      ...p,
      client: { hostname: p.client.hostname, port: p.client.port },
      back: { transport: "udp", hostname: p.client.hostname, port: p.client.port },
      key,
      tried: [],
      unboundLeft: MAX_UNBOUND_FORWARDS,
      created: now,
      last: now,
      ended: false,
    };
    this.#paths.set(key, path);
    this.#count("relay_paths_opened");
    this.#pump(path);
    if (this.#sweeper === undefined) {
      const t = setInterval(() => this.#sweep(), SWEEP_MS);
      Deno.unrefTimer(t);
      this.#sweeper = t;
    }
    return true;
  }

  /**
   * True when `datagram` from `from` belongs to a path: from exactly the client's address and
   * port, session-shaped, and either the bound id or (unbound, budget left) not a request for
   * this daemon. One map lookup for every other datagram.
   */
  claims(datagram: Uint8Array, from: { hostname: string; port: number }): boolean {
    if (this.#paths.size === 0) return false;
    const p = this.#paths.get(keyOf(from));
    if (p === undefined) return false;
    const id = sessionIdOf(datagram);
    if (id === undefined) return false;
    if (p.id !== undefined) return p.id === id;
    return p.unboundLeft > 0 && !this.#isOwn(datagram);
  }

  /** Forwards a datagram {@linkcode claims} accepted to the next hop (a copy: it is kept). */
  forward(datagram: Uint8Array, from: { hostname: string; port: number }): void {
    const p = this.#paths.get(keyOf(from));
    const id = sessionIdOf(datagram);
    if (p === undefined || id === undefined) return;
    if (this.#expired(p, this.#clock())) {
      this.#end(p);
      this.#count("relay_path_ended");
      return;
    }
    // A reload or an admin disable since the opening ends the path (silence from now on).
    if (p.owner && !this.#allowed(p.owner)) {
      this.#end(p);
      this.#count("relay_path_refused");
      return;
    }
    if (p.id === undefined) {
      if (p.unboundLeft <= 0) return;
      p.unboundLeft--;
      if (!p.tried.includes(id)) {
        if (p.tried.length >= MAX_TRIED_IDS) return;
        p.tried.push(id);
      }
    } else if (p.id !== id) return;
    p.last = this.#clock();
    this.#count("relay_session_out");
    p.conn.send(datagram, p.to).catch(() => this.#count("relay_send_failed"));
  }

  /** Ends every path (daemon stop). */
  close(): void {
    for (const p of [...this.#paths.values()]) this.#end(p);
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** What the next hop sends to a path's socket: its session's datagrams go to the client. */
  async #pump(p: Path): Promise<void> {
    try {
      while (!p.ended) {
        const [data, src] = await p.conn.receive();
        const s = src as Deno.NetAddr;
        // Only the hop the path goes to; anything else on this port is ignored.
        if (s.hostname !== p.to.hostname || s.port !== p.to.port) continue;
        if (data.length > MAX_REPLY_DATAGRAM) continue;
        const id = sessionIdOf(data);
        if (id === undefined) continue;
        if (p.id === undefined) {
          if (!p.tried.includes(id)) continue;
          p.id = id; // the next hop answered it: the session is this one
          p.tried = [];
          this.#count("relay_paths_bound");
        } else if (id !== p.id) continue;
        const now = this.#clock();
        if (this.#expired(p, now)) break;
        p.last = now;
        if (p.channel.closed) break;
        this.#count("relay_session_in");
        p.channel.send(data, p.back);
      }
    } catch {
      // the socket was closed
    } finally {
      this.#end(p);
    }
  }

  #expired(p: Path, now: number): boolean {
    if (now - p.created > LIFETIME_MS || now - p.last > IDLE_MS) return true;
    return p.id === undefined && now - p.created > BIND_MS;
  }

  #sweep(): void {
    const now = this.#clock();
    for (const p of [...this.#paths.values()]) {
      if (this.#expired(p, now)) {
        this.#end(p);
        this.#count("relay_path_ended");
      }
    }
    if (this.#paths.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #end(p: Path): void {
    if (p.ended) return;
    p.ended = true;
    if (this.#paths.get(p.key) === p) this.#paths.delete(p.key);
    try {
      p.conn.close();
    } catch {
      // closed already
    }
  }
}

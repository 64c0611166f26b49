/**
 * The client's memory of cookie replies, per server (address, port and public key): the
 * cookie that keys mac2 (used for {@linkcode COOKIE_CLIENT_TTL_MS}, then forgotten) and the
 * public address the server saw, for the `allowAddress` of firewall requests. Bounded.
 * @module
 */
import { COOKIE_CLIENT_TTL_MS, type CookieReply } from "../wire/mod.ts";

/** One server's entry. */
interface Entry {
  cookie: Uint8Array;
  observed: { ip: string; port: number };
  at: number;
  /** The local port the request went from (the cookie is bound to the port). */
  localPort?: number;
}

/** Most servers remembered; the oldest entry goes first. */
const MAX_ENTRIES = 256;

/** Cookies and observed addresses per server. */
export class CookieJar {
  readonly #entries = new Map<string, Entry>();
  readonly #clock: () => number;
  readonly #ttl: number;

  /** `clock` in ms (default `Date.now`); `ttlMs` how long a cookie is used. */
  constructor(opts: { clock?: () => number; ttlMs?: number } = {}) {
    this.#clock = opts.clock ?? Date.now;
    this.#ttl = opts.ttlMs ?? COOKIE_CLIENT_TTL_MS;
  }

  /** The key of a server. */
  static key(host: string, port: number, serverPublic: Uint8Array): string {
    return `${host} ${port} ${serverPublic.toHex()}`;
  }

  #fresh(key: string): Entry | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    const age = this.#clock() - e.at;
    if (age < 0 || age >= this.#ttl) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Remembers a cookie reply from a server to a request sent from `localPort`. */
  put(key: string, reply: CookieReply, localPort?: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, {
      cookie: reply.cookie,
      observed: reply.observed,
      at: this.#clock(),
      localPort,
    });
    while (this.#entries.size > MAX_ENTRIES) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  /** The fresh cookie for a server, if any. */
  cookie(key: string): Uint8Array | undefined {
    return this.#fresh(key)?.cookie;
  }

  /**
   * The local port the cookie was earned from (while fresh): sending from it again lets the
   * cookie prove the next request too.
   */
  localPort(key: string): number | undefined {
    return this.#fresh(key)?.localPort;
  }

  /** The public address the server last saw us at (while its cookie is fresh). */
  observed(key: string): { ip: string; port: number } | undefined {
    return this.#fresh(key)?.observed;
  }
}

/** The process-wide jar `sendRequest` uses unless given another. */
export const defaultJar: CookieJar = new CookieJar();

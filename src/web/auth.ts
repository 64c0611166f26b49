/**
 * Dashboard login: the token of `admin.token_file` (compared in constant time) buys a
 * session, kept in memory only, named by a random cookie (HttpOnly, SameSite=Strict,
 * Secure under TLS) and carrying its own CSRF token that every POST must echo. Sessions
 * are bounded; failed logins are throttled per source and overall (`throttle.ts`).
 * @module
 */
import { constantTimeEqual } from "../crypto/ct.ts";
import { LoginThrottle } from "./throttle.ts";

/** Most live sessions; the oldest goes when a new one would exceed it. */
export const MAX_SESSIONS = 64;
/** A session lives this long (ms). */
export const SESSION_MS = 12 * 3_600_000;
/** Shortest token accepted from the token file. */
export const MIN_TOKEN_LENGTH = 16;

/** The session cookie's name. */
export const COOKIE = "siglatch_session";

const encoder = new TextEncoder();

/** One logged-in browser. */
export interface Session {
  /** Cookie value. */
  id: string;
  /** Token the page must send back in `X-CSRF-Token` on every POST. */
  csrf: string;
  /** Epoch ms after which it is gone. */
  expires: number;
}

function randomText(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toBase64({ alphabet: "base64url" })
    .replace(/=+$/, "");
}

/** Reads and checks the token file's token (first line, trimmed). */
export async function readToken(path: string): Promise<string> {
  const token = (await Deno.readTextFile(path)).split("\n")[0].trim();
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new Error(`${path}: the token must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  return token;
}

/** A fresh random token (for `deno task start` and `siglatch keygen`-like use). */
export function newToken(): string {
  return randomText();
}

/** Sessions and the login check. */
export class Sessions {
  readonly #token: Uint8Array;
  readonly #clock: () => number;
  readonly #sessions = new Map<string, Session>();
  readonly #throttle: LoginThrottle;

  /** Creates the store for `token`. */
  constructor(token: string, clock: () => number = Date.now) {
    this.#token = encoder.encode(token);
    this.#clock = clock;
    this.#throttle = new LoginThrottle(clock);
  }

  /**
   * True when `candidate` is the token (constant time), tried from `source` (the remote
   * address); false while that source, or everybody but trusted sources, is throttled.
   */
  checkToken(candidate: string, source: string): boolean {
    if (!this.#throttle.allowed(source)) return false;
    const given = encoder.encode(candidate);
    // Compare equal lengths only; a wrong length still costs a full compare.
    const ok = given.length === this.#token.length
      ? constantTimeEqual(given, this.#token)
      : (constantTimeEqual(this.#token, this.#token), false);
    if (ok) this.#throttle.succeeded(source);
    else this.#throttle.failed(source);
    return ok;
  }

  /** Logs in with `candidate` from `source`: a new session, or undefined for a wrong token. */
  login(candidate: string, source: string): Session | undefined {
    if (!this.checkToken(candidate, source)) return undefined;
    this.#sweep();
    while (this.#sessions.size >= MAX_SESSIONS) {
      this.#sessions.delete(this.#sessions.keys().next().value!);
    }
    const s: Session = {
      id: randomText(),
      csrf: randomText(),
      expires: this.#clock() + SESSION_MS,
    };
    this.#sessions.set(s.id, s);
    return s;
  }

  /** The live session of a cookie value. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    if (s.expires <= this.#clock()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return s;
  }

  /** Ends a session. */
  logout(id: string): void {
    this.#sessions.delete(id);
  }

  /** True when `given` is the session's CSRF token (constant time). */
  csrfOk(s: Session, given: string | null): boolean {
    if (given === null) return false;
    const a = encoder.encode(given);
    const b = encoder.encode(s.csrf);
    return a.length === b.length && constantTimeEqual(a, b);
  }

  #sweep(): void {
    const now = this.#clock();
    for (const [id, s] of this.#sessions) if (s.expires <= now) this.#sessions.delete(id);
  }
}

/** The cookie value of `name` in a Cookie header. */
export function cookieValue(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

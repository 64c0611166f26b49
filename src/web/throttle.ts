/**
 * The login throttle of the web listener. Failed logins are counted per source (an IPv4
 * address, an IPv6 /64) in one-minute windows: a source that failed
 * {@linkcode MAX_FAILURES_PER_SOURCE} times waits out its minute, so one attacker cannot
 * lock out the operator's logins from elsewhere. A generous global cap
 * ({@linkcode MAX_FAILURES_GLOBAL} per minute) bounds guessing from many sources at once;
 * while it is reached, only sources that logged in successfully in the last
 * {@linkcode TRUSTED_MS} are still heard. Both tables are bounded.
 * @module
 */

/** Failed logins one source may make per minute. */
export const MAX_FAILURES_PER_SOURCE = 10;
/** Failed logins all sources together may make per minute. */
export const MAX_FAILURES_GLOBAL = 300;
/** Most sources with failures tracked at once (more than the global cap lets in per minute). */
export const MAX_SOURCES = 1024;
/** Most sources remembered as having logged in. */
export const MAX_TRUSTED = 64;
/** How long a successful login keeps its source trusted through a global lockout (ms). */
export const TRUSTED_MS = 12 * 3_600_000;
const WINDOW_MS = 60_000;

/** The throttle key of a remote address: IPv4 as is, IPv6 by its /64 (one host's share). */
export function sourceKey(addr: string): string {
  const ip = addr.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr;
  if (!ip.includes(":")) return ip;
  const [head, tail = ""] = ip.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = ip.includes("::")
    ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right]
    : left;
  return groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, "")).join(":") +
    "::/64";
}

/** Counts failed logins per source and overall. */
export class LoginThrottle {
  readonly #clock: () => number;
  readonly #sources = new Map<string, { start: number; failures: number }>();
  readonly #trusted = new Map<string, number>();
  #globalStart = 0;
  #global = 0;

  /** Creates the throttle. */
  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  /** True when `source` may try a token now. */
  allowed(source: string): boolean {
    const now = this.#clock();
    const key = sourceKey(source);
    const s = this.#sources.get(key);
    if (s && now - s.start < WINDOW_MS && s.failures >= MAX_FAILURES_PER_SOURCE) return false;
    if (now - this.#globalStart >= WINDOW_MS) {
      this.#globalStart = now;
      this.#global = 0;
    }
    if (this.#global < MAX_FAILURES_GLOBAL) return true;
    const trustedUntil = this.#trusted.get(key);
    return trustedUntil !== undefined && trustedUntil > now;
  }

  /** Counts a failed try of `source`. */
  failed(source: string): void {
    const now = this.#clock();
    const key = sourceKey(source);
    this.#global++;
    const s = this.#sources.get(key);
    if (s && now - s.start < WINDOW_MS) {
      s.failures++;
      return;
    }
    this.#sources.delete(key);
    if (this.#sources.size >= MAX_SOURCES) {
      for (const [k, v] of this.#sources) if (now - v.start >= WINDOW_MS) this.#sources.delete(k);
    }
    // Still full: the oldest window goes (the global cap still bounds its owner).
    while (this.#sources.size >= MAX_SOURCES) {
      this.#sources.delete(this.#sources.keys().next().value!);
    }
    this.#sources.set(key, { start: now, failures: 1 });
  }

  /** Remembers that `source` logged in (it stays heard through a global lockout). */
  succeeded(source: string): void {
    const key = sourceKey(source);
    this.#trusted.delete(key);
    while (this.#trusted.size >= MAX_TRUSTED) {
      this.#trusted.delete(this.#trusted.keys().next().value!);
    }
    this.#trusted.set(key, this.#clock() + TRUSTED_MS);
  }

  /** Sources with a failure window held (for tests and status). */
  get trackedSources(): number {
    return this.#sources.size;
  }
}

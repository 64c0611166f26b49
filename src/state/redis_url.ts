/**
 * The Redis connection settings from `state.redis` (+ `redis_password_file`,
 * `redis_ca_file`), without loading ioredis: `serve` and `check` use these helpers for any
 * config, and only a config that names Redis pays for the client (~18 MB RSS).
 * @module
 */
import type { RedisOptions } from "ioredis";
import type { RecordAudit } from "./audit.ts";

/** How to reach and authenticate to Redis, beyond the URL. */
export interface RedisConnectOptions {
  /** Key prefix (default `siglatch:`). */
  prefix?: string;
  /** Password (from `state.redis_password_file`); the URL must then carry none. */
  password?: string;
  /** PEM CA certificates to verify a `rediss://` server with (default: system roots). */
  ca?: string;
  /** Where refused records are reported. */
  audit?: RecordAudit;
}

/**
 * The ioredis options for `url` (`redis[s]://[user[:password]@]host[:port][/db]`), built
 * field by field: a query string (which ioredis would turn into arbitrary options) is
 * refused, and a password given both in the URL and from a file is an error. Pure; throws
 * with a message that never contains the password.
 */
export function redisOptions(url: string, opts: RedisConnectOptions = {}): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error("state.redis: not a URL (expected redis[s]://[user:password@]host:port/db)");
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw new Error("state.redis: the scheme must be redis:// or rediss://");
  }
  if (u.search !== "" || u.hash !== "") {
    throw new Error("state.redis: query strings and fragments are not supported");
  }
  if (u.hostname === "") throw new Error("state.redis: no host");
  const db = u.pathname === "" || u.pathname === "/" ? 0 : Number(u.pathname.slice(1));
  if (!/^\/?(\d{1,5})?$/.test(u.pathname) || !Number.isInteger(db) || db > 65535) {
    throw new Error("state.redis: the path must be a database number (/0)");
  }
  const urlPassword = u.password === "" ? undefined : decodeURIComponent(u.password);
  if (urlPassword !== undefined && opts.password !== undefined) {
    throw new Error("state.redis: a password in the URL and state.redis_password_file both given");
  }
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const out: RedisOptions = {
    host,
    port: u.port === "" ? 6379 : Number(u.port),
    db,
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    connectTimeout: 3000,
    enableOfflineQueue: false,
  };
  if (u.username !== "") out.username = decodeURIComponent(u.username);
  const password = urlPassword ?? opts.password;
  if (password !== undefined) out.password = password;
  if (u.protocol === "rediss:") {
    out.tls = {
      ...(opts.ca === undefined ? {} : { ca: [opts.ca] }),
      // SNI only for names, never for an IP literal (RFC 6066).
      ...(/^[0-9.]+$|:/.test(host) ? {} : { servername: host }),
      rejectUnauthorized: true,
    };
  }
  return out;
}

/** The URL with any password replaced by `***`, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}

/** Reads a password file: the first line, without its line end; an empty file is an error. */
export async function readRedisPassword(file: string): Promise<string> {
  const text = await Deno.readTextFile(file);
  const line = text.split(/\r?\n/, 1)[0];
  if (line.length === 0) throw new Error(`state.redis_password_file ${file}: empty`);
  return line;
}

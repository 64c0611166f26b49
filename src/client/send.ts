/**
 * Sending one request and waiting for its sealed reply, with retries (a fresh nonce each
 * time, so a retry is never a replay).
 * @module
 */
import {
  requestDatagramLength,
  type SealedRequest,
  sealFragments,
  sealRequest,
  type UserAuth,
} from "../wire/mod.ts";
import { decodeReplyBody, type ReplyBody } from "../wire/reply_body.ts";
import { ReplyStatus } from "../wire/mod.ts";

/** What to send. */
export interface SendOptions {
  /** Server address (IP or host name). */
  host: string;
  /** Server UDP port. */
  port: number;
  /** Server X25519 public key (32 bytes). */
  serverPublic: Uint8Array;
  /** User id. */
  userId: number;
  /** How the user authenticates. */
  auth: UserAuth;
  /** Action id. */
  actionId: number;
  /** Payload. */
  payload?: Uint8Array;
  /** Local address to send from (default: any). */
  bind?: string;
  /** Wait for a reply. */
  wait: boolean;
  /** Per attempt, ms. */
  timeoutMs: number;
  /** Extra attempts after the first. */
  retries: number;
  /** Added to the local clock (ms) when stamping requests. */
  timeOffsetMs?: number;
  /** Insecure (signed, not sealed) mode. */
  insecure?: boolean;
  /**
   * Pad the request to at least this many bytes. The server never answers an unproven
   * source with more bytes than it sent (no amplification), so like QUIC's 1200-byte
   * Initial a padded request buys room for the reply. Default: 1200 when waiting for a
   * reply, none otherwise.
   */
  padTo?: number;
}

/** The reply as the client sees it. */
export interface SendResult {
  /** True when a reply arrived (or none was awaited). */
  answered: boolean;
  /** Reply status code (see ReplyStatus), when answered. */
  status?: number;
  /** Action exit code. */
  exitCode?: number;
  /** Server time (ms) from the reply. */
  serverTime?: number;
  /** True when output was cut. */
  truncated?: boolean;
  /** The decoded body. */
  body?: ReplyBody;
  /** Attempts made. */
  attempts: number;
  /** Round trip of the answered attempt (ms). */
  rttMs?: number;
}

/** Default request size when a reply is awaited (see {@linkcode SendOptions.padTo}). */
export const DEFAULT_PAD = 1200;

async function resolveHost(host: string): Promise<string> {
  if (/^[\d.]+$/.test(host) || host.includes(":")) return host;
  try {
    const a = await Deno.resolveDns(host, "A");
    if (a.length > 0) return a[0];
  } catch {
    // fall through
  }
  try {
    const aaaa = await Deno.resolveDns(host, "AAAA");
    if (aaaa.length > 0) return aaaa[0];
  } catch {
    // fall through
  }
  if (host === "localhost") return "127.0.0.1";
  throw new Error(`unknown host "${host}"`);
}

/** Largest single request datagram before the payload goes as fragments. */
const SINGLE_DATAGRAM_LIMIT = 1200;

/** Seals the request as one datagram, or as fragments when the payload does not fit. */
export function sealParts(opts: SendOptions, cookie?: Uint8Array): SealedRequest[] {
  const payload = opts.payload ?? new Uint8Array();
  const now = Date.now() + (opts.timeOffsetMs ?? 0);
  const padTo = opts.padTo ?? (opts.wait ? DEFAULT_PAD : undefined);
  const natural = requestDatagramLength(
    payload.length,
    opts.auth.kind,
    cookie !== undefined,
    opts.insecure,
  );
  if (natural <= SINGLE_DATAGRAM_LIMIT) {
    return [sealRequest(opts.serverPublic, opts.auth, {
      type: "request",
      userId: opts.userId,
      actionId: opts.actionId,
      payload,
      cookie,
    }, { now, padTo, insecure: opts.insecure })];
  }
  return sealFragments(opts.serverPublic, opts.auth, {
    userId: opts.userId,
    actionId: opts.actionId,
    payload,
    cookie,
  }, { now, padTo, insecure: opts.insecure }).parts;
}

/** Sends a request, retrying on silence; never sends the same bytes twice. */
export async function sendRequest(opts: SendOptions): Promise<SendResult> {
  const hostname = await resolveHost(opts.host);
  const v6 = hostname.includes(":");
  const conn = Deno.listenDatagram({
    transport: "udp",
    hostname: opts.bind ?? (v6 ? "::" : "0.0.0.0"),
    port: 0,
  });
  const target: Deno.NetAddr = { transport: "udp", hostname, port: opts.port };
  let pendingReceive: Promise<[Uint8Array, Deno.Addr]> | undefined;
  try {
    const attempts = opts.wait ? opts.retries + 1 : 1;
    const openers: SealedRequest["reply"][] = [];
    let cookie: Uint8Array | undefined;
    let challenges = 0;
    const MAX_CHALLENGES = 2;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const parts = sealParts(opts, cookie);
      for (const part of parts) openers.push(part.reply);
      const sentAt = performance.now();
      for (const part of parts) await conn.send(part.datagram, target);
      if (!opts.wait) return { answered: true, attempts: attempt };
      const deadline = sentAt + opts.timeoutMs;
      let challenged = false;
      while (!challenged) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        pendingReceive ??= conn.receive();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const got = await Promise.race([
          pendingReceive,
          new Promise<null>((r) => timer = setTimeout(() => r(null), left)),
        ]);
        clearTimeout(timer);
        if (got === null) break;
        pendingReceive = undefined;
        const [data] = got;
        // A late reply to an earlier attempt is as good as one to this attempt.
        for (const opener of openers) {
          const r = opener.open(data);
          if (r.ok && r.reply.status === ReplyStatus.Challenge && challenges < MAX_CHALLENGES) {
            // Answer the challenge at once with a fresh request carrying the cookie.
            const body = decodeReplyBody(r.reply.body);
            if (body.cookie) {
              cookie = Uint8Array.fromBase64(body.cookie);
              challenges++;
              attempt--;
              challenged = true;
              break;
            }
          }
          if (r.ok) {
            return {
              answered: true,
              status: r.reply.status,
              exitCode: r.reply.exitCode,
              serverTime: r.reply.serverTime,
              truncated: r.reply.truncated,
              body: decodeReplyBody(r.reply.body),
              attempts: attempt,
              rttMs: performance.now() - sentAt,
            };
          }
        }
      }
    }
    return { answered: false, attempts };
  } finally {
    conn.close();
    pendingReceive?.catch(() => {});
  }
}

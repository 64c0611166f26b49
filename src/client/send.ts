/**
 * Sending one request and waiting for its sealed reply, with retries: every datagram has a
 * fresh nonce (a retry is never a replay) and every attempt of one logical request the same
 * retry id (the server answers a retry from its reply cache instead of running the action
 * again). A cookie reply is handled here: the cookie is kept per server (~2 minutes) and the
 * request is sent again at once with mac2, carrying the public address the server saw.
 * @module
 */
import { randomFillSync } from "node:crypto";
import {
  FRAGMENT_HEADER_LEN,
  openCookieReply,
  requestDatagramLength,
  RequestFlag,
  RETRY_ID_LEN,
  type SealedRequest,
  sealFragments,
  sealRequest,
  type UserAuth,
} from "../wire/mod.ts";
import { decodeReplyBody, type ReplyBody } from "../wire/reply_body.ts";
import { parseIp } from "../util/ip.ts";
import { CookieJar, defaultJar } from "./cookies.ts";
import { DEFAULT_CHAFF_JITTER_MS, sendWithChaff } from "./chaff.ts";
import { type RelayHop, type SentDatagram, wrapForChain } from "./relay.ts";
import { innermostLimit } from "../wire/relay.ts";

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
  /**
   * The address to ask a firewall action to open (sealed in the request). Default: the
   * address the server last reported seeing us at in a cookie reply, if any.
   */
  allowAddress?: string;
  /** Put the observed address in the request when `allowAddress` is absent (default true). */
  allowObserved?: boolean;
  /** Where cookies and the observed address are kept (default: one per process). */
  jar?: CookieJar;
  /** Decoy datagrams sent around the first attempt (`chaff.ts`; default 0). */
  chaff?: number;
  /** Longest random wait before each datagram when sending chaff, ms (default 200). */
  chaffJitterMs?: number;
  /**
   * Without a cookie, send the first datagram of a single-datagram request twice (default
   * true): a server under a spoofed flood answers the copy with a cookie at once.
   */
  firstContactCopy?: boolean;
  /** Message type (default `request`; `enroll` for `siglatch enroll`, never fragmented). */
  type?: "request" | "enroll";
  /** Request flag bits (`RequestFlag`; e.g. `Session` to open a session). */
  flags?: number;
  /** Send and receive on this socket and leave it open (a session keeps its address). */
  conn?: Deno.DatagramConn;
  /** Relays to pass, first hop first (`host`/`port`/`serverPublic` are the final server). */
  via?: RelayHop[];
  /** Told after each datagram of an attempt goes out (`sent` of `total`; fragments). */
  onSent?: (sent: number, total: number) => void;
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
  /** Cookie replies handled (each answered at once by a resend with mac2). */
  cookieRounds: number;
  /** Our public address and port as the server saw them (from a cookie reply). */
  observed?: { ip: string; port: number };
  /** The answered request's reply key (secret; session keys derive from it). */
  replyKey?: Uint8Array;
  /** Through relays: the index of the relay that answered itself (not the final server). */
  relayHop?: number;
}

/** Cookie rounds allowed per attempt, so a hostile path cannot make the client loop. */
export const MAX_COOKIE_ROUNDS = 2;

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

/** What changes between the datagrams of one logical request. */
export interface SealContext {
  /** The logical request's retry id (default random). */
  retryId?: Uint8Array;
  /** A fresh cookie from the server: fills mac2. */
  cookie?: Uint8Array;
  /** The address to put in the request (default `opts.allowAddress`). */
  allowAddress?: string;
  /** Largest datagram (default 1200; less inside relay layers). */
  maxDatagram?: number;
}

/** Seals the request as one datagram, or as fragments when the payload does not fit. */
export function sealParts(opts: SendOptions, ctx: SealContext = {}): SealedRequest[] {
  const payload = opts.payload ?? new Uint8Array();
  const now = Date.now() + (opts.timeOffsetMs ?? 0);
  const limit = ctx.maxDatagram ?? SINGLE_DATAGRAM_LIMIT;
  const pad = opts.padTo ?? (opts.wait ? DEFAULT_PAD : undefined);
  const padTo = pad === undefined ? undefined : Math.min(pad, limit);
  const allowAddress = ctx.allowAddress ?? opts.allowAddress;
  const allow = allowAddress === undefined ? undefined : parseIp(allowAddress);
  if (allowAddress !== undefined && allow === undefined) {
    throw new RangeError(`allow address ${allowAddress}: not an IP address`);
  }
  const natural = requestDatagramLength(
    payload.length,
    opts.auth.kind,
    allow === undefined ? 0 : allow.family === 4 ? 4 : 16,
    opts.insecure,
  );
  const sealOpts = { now, padTo, insecure: opts.insecure, cookie: ctx.cookie };
  const fields = {
    userId: opts.userId,
    actionId: opts.actionId,
    flags: opts.flags,
    payload,
    retryId: ctx.retryId,
    allowAddress,
  };
  if (natural <= limit || opts.type === "enroll") {
    const type = opts.type ?? "request";
    return [sealRequest(opts.serverPublic, opts.auth, { type, ...fields }, sealOpts)];
  }
  return sealFragments(opts.serverPublic, opts.auth, fields, { ...sealOpts, maxDatagram: limit })
    .parts;
}

/**
 * The datagrams of one attempt: sealed to the server, or, through relays, sealed to the final
 * server and wrapped for each relay (the first hop's cookie fills the outer mac2).
 */
function sealAttempt(opts: SendOptions, ctx: SealContext): SentDatagram[] {
  const via = opts.via ?? [];
  if (via.length === 0) return sealParts(opts, ctx);
  if (opts.insecure) throw new Error("relays need secure (sealed) servers");
  const maxDatagram = innermostLimit(via.length, opts.auth.kind);
  if (maxDatagram < requestDatagramLength(FRAGMENT_HEADER_LEN + 1, opts.auth.kind, 16)) {
    throw new Error(`${via.length} relays leave no room for the request: use fewer`);
  }
  const inner = sealParts(opts, { ...ctx, cookie: undefined, maxDatagram });
  return wrapForChain(inner, via, {
    userId: opts.userId,
    auth: opts.auth,
    now: Date.now() + (opts.timeOffsetMs ?? 0),
    cookie: ctx.cookie,
    session: ((opts.flags ?? 0) & RequestFlag.Session) !== 0,
  });
}

/** Waits for one datagram until `deadline` (performance.now ms); `null` on time-out. */
async function receiveUntil(
  conn: Deno.DatagramConn,
  pending: { p?: Promise<[Uint8Array, Deno.Addr]> },
  deadline: number,
): Promise<Uint8Array | null> {
  const left = deadline - performance.now();
  if (left <= 0) return null;
  pending.p ??= conn.receive();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const got = await Promise.race([
    pending.p,
    new Promise<null>((r) => timer = setTimeout(() => r(null), left)),
  ]);
  clearTimeout(timer);
  if (got === null) return null;
  pending.p = undefined;
  return got[0];
}

/**
 * Sends a request, retrying on silence; never sends the same bytes twice. All attempts carry
 * one retry id. A cookie reply (at most {@linkcode MAX_COOKIE_ROUNDS} per attempt) makes it
 * resend at once with mac2 and, unless `allowAddress` was given, the observed address.
 */
export async function sendRequest(opts: SendOptions): Promise<SendResult> {
  // Through relays, everything on the wire goes to (and comes from) the first hop.
  const first = opts.via?.[0] ??
    { host: opts.host, port: opts.port, serverPublic: opts.serverPublic };
  const hostname = await resolveHost(first.host);
  const v6 = hostname.includes(":");
  const target: Deno.NetAddr = { transport: "udp", hostname, port: first.port };
  const jar = opts.jar ?? defaultJar;
  const server = CookieJar.key(hostname, first.port, first.serverPublic);
  const conn = opts.conn ?? listen(opts.bind ?? (v6 ? "::" : "0.0.0.0"), jar.localPort(server));
  const localPort = (conn.addr as Deno.NetAddr).port;
  const retryId = randomFillSync(new Uint8Array(RETRY_ID_LEN));
  const pending: { p?: Promise<[Uint8Array, Deno.Addr]> } = {};
  let cookieRounds = 0;
  let chaffLeft = opts.chaff ?? 0;
  if (chaffLeft > 0 && opts.insecure) throw new Error("chaff needs a secure (sealed) server");
  if (chaffLeft > 0 && opts.via?.length) throw new Error("chaff cannot go through relays");
  let chaffTail: Promise<void> | undefined;
  try {
    const attempts = opts.wait ? opts.retries + 1 : 1;
    const sent: SentDatagram[] = [];
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let rounds = 0;
      let resend = true;
      while (resend) {
        resend = false;
        const observed = opts.allowObserved === false ? undefined : jar.observed(server)?.ip;
        const parts = sealAttempt(opts, {
          retryId,
          cookie: jar.cookie(server),
          allowAddress: opts.allowAddress ?? observed,
        });
        sent.push(...parts);
        let sentAt = performance.now();
        if (chaffLeft > 0) {
          let realSent!: () => void;
          const realOut = new Promise<void>((r) => realSent = r);
          chaffTail = sendWithChaff(
            (d) => conn.send(d, target),
            parts.map((p) => p.datagram),
            { ...opts, cookie: jar.cookie(server) },
            chaffLeft,
            opts.chaffJitterMs ?? DEFAULT_CHAFF_JITTER_MS,
            realSent,
          );
          chaffLeft = 0;
          await Promise.race([realOut, chaffTail]);
          opts.onSent?.(parts.length, parts.length);
          sentAt = performance.now();
        } else {
          for (let i = 0; i < parts.length; i++) {
            await conn.send(parts[i].datagram, target);
            opts.onSent?.(i + 1, parts.length);
          }
          // First contact without a cookie: the same datagram once more. A server under a
          // flood answers a source seen twice with a cookie at once (it cannot tell our first
          // datagram from the flood's); any other server drops the copy before opening it.
          const copy = opts.firstContactCopy !== false && attempt === 1 && rounds === 0;
          if (copy && parts.length === 1 && !jar.cookie(server)) {
            await conn.send(parts[0].datagram, target);
          }
        }
        if (!opts.wait) return { answered: true, attempts: attempt, cookieRounds };
        const deadline = sentAt + opts.timeoutMs;
        for (;;) {
          const data = await receiveUntil(conn, pending, deadline);
          if (data === null) break;
          // A late reply to an earlier attempt is as good as one to this attempt.
          for (const part of sent) {
            const r = part.reply.open(data);
            if (!r.ok) continue;
            const hop = "hop" in r ? r.hop : undefined;
            return {
              answered: true,
              status: r.reply.status,
              exitCode: r.reply.exitCode,
              serverTime: r.reply.serverTime,
              truncated: r.reply.truncated,
              body: decodeReplyBody(r.reply.body),
              attempts: attempt,
              rttMs: performance.now() - sentAt,
              cookieRounds,
              observed: jar.observed(server),
              // (a relay that answered itself never gets to speak for the final server)
              replyKey: opts.conn && hop === undefined ? part.reply.exportKey?.() : undefined,
              relayHop: hop,
            };
          }
          if (rounds >= MAX_COOKIE_ROUNDS) continue;
          const cookie = cookieReplyTo(first.serverPublic, sent, data);
          if (cookie === null) continue;
          jar.put(server, cookie, localPort);
          rounds++;
          cookieRounds++;
          resend = true;
          break;
        }
      }
    }
    return { answered: false, attempts, cookieRounds, observed: jar.observed(server) };
  } finally {
    await chaffTail?.catch(() => {});
    if (!opts.conn) conn.close();
    pending.p?.catch(() => {});
  }
}

/**
 * A UDP socket on `hostname`, from `port` when given and free (a cookie is bound to the
 * source port, so reusing the port keeps the cookie valid), else from any port.
 */
function listen(hostname: string, port: number | undefined): Deno.DatagramConn {
  if (port !== undefined) {
    try {
      return Deno.listenDatagram({ transport: "udp", hostname, port });
    } catch {
      // taken: any port will do (the server answers with a new cookie if it must)
    }
  }
  return Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
}

/** Opens `data` as a cookie reply to any datagram we sent (newest first), or `null`. */
function cookieReplyTo(
  serverPublic: Uint8Array,
  sent: readonly SentDatagram[],
  data: Uint8Array,
): ReturnType<typeof openCookieReply> {
  for (let i = sent.length - 1; i >= 0; i--) {
    const c = openCookieReply(serverPublic, sent[i].mac1, data);
    if (c !== null) return c;
  }
  return null;
}

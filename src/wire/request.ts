/**
 * Requests: {@linkcode sealRequest} (client) and {@linkcode RequestOpener} (server).
 *
 * Secure datagram v2:   enc' (32) || HPKE ciphertext of the inner fields (+16 tag) || mac1 || mac2
 * Insecure datagram v2: enc  (32) || inner fields in the clear                    || mac1 || mac2
 * v1 (recognised only, so an old client can be told to upgrade) has no mac2.
 *
 * enc' is the ephemeral X25519 public key with its top bit set at random (real keys
 * always have it clear, which would be a distinguisher); the receiver clears it.
 * Pure: no I/O; the clock is injectable.
 * @module
 */
import { type KeyObject, randomFillSync } from "node:crypto";
import { constantTimeEqual } from "../crypto/ct.ts";
import type { HpkeContext } from "../crypto/hpke.ts";
import { concatBytes } from "../crypto/bytes.ts";
import {
  x25519PrivateKeyObject,
  x25519PublicFromPrivate,
  x25519PublicKeyObject,
} from "../crypto/keys.ts";
import { authenticate, type UserAuth, type UserVerifier, verifyAuth } from "./auth.ts";
import {
  allowAddressLength,
  authTagLength,
  parseRequestInner,
  type RequestInner,
  signedLength,
  writeRequestSigned,
} from "./inner.ts";
import { Mac1 } from "./mac1.ts";
import { computeMac2 } from "./mac2.ts";
import { ReplyOpener, ReplySealer } from "./reply.ts";
import { SUITE_V1, SUITE_V2, SUITES, type WireMode, type WireSuite } from "./suite.ts";
import {
  COOKIE_LEN,
  ENC_LEN,
  HMAC_TAG_LEN,
  MAC1_LEN,
  MAC2_LEN,
  MAX_DATAGRAM,
  type MessageType,
  NONCE_LEN,
  type Reason,
  REQUEST_HEADER_LEN,
  REQUEST_TYPES,
  RETRY_ID_LEN,
  TAG_LEN,
} from "./types.ts";
import { type IpAddress, parseIp } from "../util/ip.ts";

/** Fields a client puts in a request. */
export interface RequestFields {
  /** Message type: request, fragment, keepalive, chaff, notice or event. */
  type: MessageType;
  /** User id (u32). */
  userId: number;
  /** Action id (u16). */
  actionId: number;
  /** Session id (u64); random when omitted. */
  sessionId?: bigint;
  /** Flag bits (u8, {@linkcode RequestFlag}); bit 0 is reserved (v2) / set from `cookie` (v1). */
  flags?: number;
  /** Payload bytes (default empty). */
  payload?: Uint8Array;
  /**
   * 16-byte retry id (v2): random per logical request and the SAME in every retry of it,
   * so the server can answer a retry from its reply cache. Default random.
   */
  retryId?: Uint8Array;
  /**
   * The address a firewall action should open (v2), sealed and authenticated: an IPv4 or
   * IPv6 address in text. IPv4-mapped IPv6 is sent as IPv4.
   */
  allowAddress?: string;
  /** v1 only (old-client tests): 16-byte in-request cookie. A v2 request uses mac2. */
  cookie?: Uint8Array;
  /** Client time in ms (default `opts.now` or `Date.now()`). */
  timestamp?: number;
  /** 16-byte nonce, new for every datagram (default random). Never reuse one. */
  nonce?: Uint8Array;
}

/** Options of {@linkcode sealRequest}. */
export interface SealOptions {
  /** Current time in ms, used when `fields.timestamp` is absent. */
  now?: number;
  /**
   * Pad the datagram (inside the ciphertext) to this many bytes, at most 1400.
   * Without it the datagram is padded to a multiple of 16 bytes. Insecure requests
   * are never padded.
   */
  padTo?: number;
  /** Send an insecure (signed, not encrypted) request, for an insecure server. */
  insecure?: boolean;
  /** Fixed ephemeral X25519 private key (test vectors only). */
  ephemeralPrivate?: Uint8Array;
  /** Fixed value of enc's top bit (test vectors only; default random). */
  encHighBit?: 0 | 1;
  /**
   * A fresh 16-byte cookie from this server's cookie reply: fills mac2 (v2). Without it
   * mac2 is all zero.
   */
  cookie?: Uint8Array;
  /** Wire version to seal (default 2; 1 only to test how old clients are treated). */
  version?: 1 | 2;
}

/** A sealed request and what the client keeps to open replies. */
export interface SealedRequest {
  /** The datagram to send. */
  datagram: Uint8Array;
  /** Opens replies to this request. */
  reply: ReplyOpener;
  /** The request id (= nonce) the replies echo. */
  requestId: Uint8Array;
  /** The retry id (v2; the nonce for v1). */
  retryId: Uint8Array;
  /** The datagram's mac1: the AAD of a cookie reply to it ({@linkcode openCookieReply}). */
  mac1: Uint8Array;
}

/** A request that opened and authenticated. */
export interface OpenedRequest extends RequestInner {
  /** Secure or insecure packet. */
  mode: WireMode;
}

/** Result of {@linkcode RequestOpener.open}. */
export type OpenResult =
  | {
    ok: true;
    msg: OpenedRequest;
    replier: ReplySealer;
    /** Opened under a server key that was rotated out (its reply carries the new key). */
    stale?: boolean;
    /** The user authenticated with its previous HMAC key (a user key rotation is pending). */
    oldUserKey?: boolean;
  }
  | {
    ok: false;
    reason: Reason;
    /** Set when the request decrypted and named a user, but auth or time failed. */
    userId?: number;
    /** Set only for authenticated requests outside the time window (to answer clock_skew). */
    replier?: ReplySealer;
    /** Set only for authenticated requests outside the time window. */
    msg?: OpenedRequest;
  };

const serverKeyCache = new WeakMap<Uint8Array, KeyObject>();

function serverKeyObject(pub: Uint8Array): KeyObject {
  let k = serverKeyCache.get(pub);
  if (k === undefined) serverKeyCache.set(pub, k = x25519PublicKeyObject(pub));
  return k;
}

function replyKey(suite: WireSuite, ctx: HpkeContext, requestId: Uint8Array): Uint8Array {
  return ctx.export(concatBytes(suite.replyLabel, requestId), 32);
}

function checkInt(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} out of range`);
}

/**
 * Size of the datagram for these sizes (without padding). `extra` is the allow address's
 * bytes (0, 4 or 16) in v2, the cookie's (0 or 16) in v1.
 */
export function requestDatagramLength(
  payloadLength: number,
  authKind: UserAuth["kind"],
  extra = 0,
  insecure = false,
  version: 1 | 2 = 2,
): number {
  return ENC_LEN + signedLength(version, payloadLength, extra) + authTagLength(authKind) +
    (insecure ? 0 : TAG_LEN) + MAC1_LEN + (version === 1 ? 0 : MAC2_LEN);
}

/** Parses an allow address for a request (IPv4-mapped IPv6 becomes IPv4). */
function allowOf(text: string | undefined): IpAddress | undefined {
  if (text === undefined) return undefined;
  const ip = parseIp(text);
  if (ip === undefined) throw new RangeError(`allowAddress: not an IP address: ${text}`);
  return ip;
}

/**
 * Seals a request to the server's X25519 public key, authenticated by the user.
 * @throws {RangeError|TypeError} for out-of-range fields or a datagram over 1400 bytes.
 */
export function sealRequest(
  serverPublic: Uint8Array,
  auth: UserAuth,
  fields: RequestFields,
  opts: SealOptions = {},
): SealedRequest {
  const suite = opts.version === 1 ? SUITE_V1 : SUITE_V2;
  const v2 = suite.framing === 2;
  const mode: WireMode = opts.insecure ? "insecure" : "secure";
  if (serverPublic.length !== 32) throw new TypeError("server public key must be 32 bytes");
  if (!REQUEST_TYPES.has(fields.type)) throw new RangeError(`not a request type: ${fields.type}`);
  checkInt(fields.userId, 0xffffffff, "userId");
  checkInt(fields.actionId, 0xffff, "actionId");
  checkInt(fields.flags ?? 0, 0xff, "flags");
  const timestamp = fields.timestamp ?? opts.now ?? Date.now();
  checkInt(timestamp, Number.MAX_SAFE_INTEGER, "timestamp");
  const nonce = fields.nonce ?? randomFillSync(new Uint8Array(NONCE_LEN));
  if (nonce.length !== NONCE_LEN) throw new RangeError("nonce must be 16 bytes");
  if (fields.cookie !== undefined && (v2 || fields.cookie.length !== COOKIE_LEN)) {
    throw new RangeError(v2 ? "v2 has no in-request cookie: use opts.cookie" : "bad cookie");
  }
  if (opts.cookie !== undefined && (!v2 || opts.cookie.length !== COOKIE_LEN)) {
    throw new RangeError("opts.cookie must be 16 bytes (v2 only)");
  }
  const retryId = v2 ? fields.retryId ?? randomFillSync(new Uint8Array(RETRY_ID_LEN)) : nonce;
  if (retryId.length !== RETRY_ID_LEN) throw new RangeError("retryId must be 16 bytes");
  const allowAddress = v2 ? allowOf(fields.allowAddress) : undefined;
  if (!v2 && fields.allowAddress !== undefined) throw new RangeError("v1 has no allowAddress");
  let sessionId = fields.sessionId;
  if (sessionId === undefined) {
    sessionId = new DataView(randomFillSync(new Uint8Array(8)).buffer).getBigUint64(0);
  }
  if (sessionId < 0n || sessionId > 0xffffffffffffffffn) {
    throw new RangeError("sessionId out of range");
  }
  const payload = fields.payload ?? new Uint8Array(0);
  const natural = requestDatagramLength(
    payload.length,
    auth.kind,
    v2 ? allowAddressLength(allowAddress) : fields.cookie !== undefined ? COOKIE_LEN : 0,
    opts.insecure,
    suite.version as 1 | 2,
  );
  if (natural > MAX_DATAGRAM) {
    throw new RangeError(`request of ${natural} bytes exceeds ${MAX_DATAGRAM} (fragment it)`);
  }
  // Insecure packets are never padded: their padding would not be authenticated.
  const total = opts.insecure
    ? natural
    : opts.padTo !== undefined
    ? Math.max(natural, Math.min(opts.padTo, MAX_DATAGRAM))
    : Math.min(MAX_DATAGRAM, Math.ceil(natural / 16) * 16);

  // Ephemeral key and HPKE context.
  const skE = opts.ephemeralPrivate ?? randomFillSync(new Uint8Array(32));
  const { enc, ctx } = suite.hpke.setupBaseS(
    serverPublic,
    suite.info[mode],
    skE,
    serverKeyObject(serverPublic),
  );
  const encWire = enc.slice();
  if (mode === "secure") {
    const bit = opts.encHighBit ?? (randomFillSync(new Uint8Array(1))[0] & 1);
    encWire[31] = (encWire[31] & 0x7f) | (bit << 7);
  }

  // Inner fields, authenticator, zero padding.
  const trailer = MAC1_LEN + (v2 ? MAC2_LEN : 0);
  const inner = new Uint8Array(total - ENC_LEN - trailer - (mode === "secure" ? TAG_LEN : 0));
  const msg: RequestInner = {
    version: suite.version,
    type: fields.type,
    authKind: auth.kind,
    flags: fields.flags ?? 0,
    userId: fields.userId,
    timestamp,
    nonce,
    retryId,
    sessionId,
    actionId: fields.actionId,
    payload,
    allowAddress,
    cookie: v2 ? undefined : fields.cookie,
  };
  const signedLen = writeRequestSigned(inner, msg);
  const tag = authenticate(auth, [
    suite.authContext[mode],
    enc,
    serverPublic,
    inner.subarray(0, signedLen),
  ]);
  inner.set(tag, signedLen);

  const body = mode === "secure" ? ctx.seal(encWire, inner) : inner;
  const datagram = new Uint8Array(total);
  datagram.set(encWire, 0);
  datagram.set(body, ENC_LEN);
  const mac1End = total - (v2 ? MAC2_LEN : 0);
  const mac1 = new Mac1(suite.mac1Label[mode], serverPublic)
    .compute(datagram.subarray(0, mac1End - MAC1_LEN));
  datagram.set(mac1, mac1End - MAC1_LEN);
  if (v2 && opts.cookie !== undefined) {
    datagram.set(computeMac2(opts.cookie, datagram.subarray(0, mac1End)), mac1End);
  }
  const requestId = nonce.slice();
  return {
    datagram,
    reply: new ReplyOpener(suite.version, requestId, replyKey(suite, ctx, requestId)),
    requestId,
    retryId: retryId.slice(),
    mac1: mac1.slice(),
  };
}

/** Options of {@linkcode RequestOpener}. */
export interface RequestOpenerOptions {
  /** The server's raw X25519 private key. */
  x25519Private: Uint8Array;
  /** The server's raw X25519 public key (checked against the private key). */
  x25519Public: Uint8Array;
  /** Accept insecure (signed, plain) requests instead of secure ones. */
  insecure?: boolean;
  /** Accepted clock difference in ms, each way (default 30 000). */
  skewMs?: number;
  /** Clock in ms (default `Date.now`). */
  clock?: () => number;
  /**
   * Also check the other mode's mac1 when ours fails, to report `wrong_mode` instead of
   * `bad_mac1` (costs a second hash on garbage; default true).
   */
  detectWrongMode?: boolean;
}

interface Matcher {
  suite: WireSuite;
  mac1: Mac1;
  /** Bytes after mac1 (mac2 in v2). */
  trailer: number;
}

function trailerOf(suite: WireSuite): number {
  return suite.framing === 2 ? MAC2_LEN : 0;
}

/**
 * Server side: prefilters and opens request datagrams. Precomputes the mac1 states
 * and key objects; one instance per server key. Never throws from `prefilter`/`open`.
 */
export class RequestOpener {
  /** Secure or insecure server. */
  readonly mode: WireMode;
  /** Smallest datagram this server can accept. */
  readonly minLength: number;
  readonly #sk: KeyObject;
  readonly #pk: Uint8Array;
  readonly #skew: number;
  readonly #clock: () => number;
  readonly #own: Matcher[];
  readonly #other: Matcher[];

  /** @throws {Error} when the public key does not belong to the private key. */
  constructor(opts: RequestOpenerOptions) {
    this.mode = opts.insecure ? "insecure" : "secure";
    this.#sk = x25519PrivateKeyObject(opts.x25519Private);
    if (!constantTimeEqual(x25519PublicFromPrivate(opts.x25519Private), opts.x25519Public)) {
      throw new Error("x25519Public does not match x25519Private");
    }
    this.#pk = opts.x25519Public.slice();
    this.#skew = opts.skewMs ?? 30_000;
    this.#clock = opts.clock ?? Date.now;
    const other: WireMode = this.mode === "secure" ? "insecure" : "secure";
    const matchers = (m: WireMode) =>
      SUITES.map((suite) => ({
        suite,
        mac1: new Mac1(suite.mac1Label[m], this.#pk),
        trailer: trailerOf(suite),
      }));
    this.#own = matchers(this.mode);
    // Wrong-mode detection only for the current version (one more hash on garbage, not two).
    this.#other = opts.detectWrongMode === false ? [] : matchers(other).slice(0, 1);
    // The smallest of any recognised version (v1's: it has no mac2 and a shorter header).
    this.minLength = ENC_LEN + REQUEST_HEADER_LEN + HMAC_TAG_LEN + MAC1_LEN +
      (this.mode === "secure" ? TAG_LEN : 0);
  }

  #match(d: Uint8Array, newestOnly = false): WireSuite | Reason {
    if (!(d instanceof Uint8Array) || d.length < this.minLength) return "too_short";
    if (d.length > MAX_DATAGRAM) return "too_long";
    if (newestOnly) {
      const m = this.#own[0];
      return m.mac1.verify(d, m.trailer) ? m.suite : "bad_mac1";
    }
    for (const m of this.#own) if (m.mac1.verify(d, m.trailer)) return m.suite;
    for (const m of this.#other) if (m.mac1.verify(d, m.trailer)) return "wrong_mode";
    return "bad_mac1";
  }

  /**
   * Size and mac1 only: `null` when the datagram may be a request for us. Garbage costs one
   * hash per version and one for the other mode (to name `wrong_mode`); `newestOnly` checks
   * the newest version's own mac1 alone, one hash (under load: old clients and the wrong-mode
   * diagnosis wait; measured 17.5 → 6.2 µs per spoofed garbage datagram under load, in process).
   */
  prefilter(datagram: Uint8Array, newestOnly = false): Reason | null {
    try {
      const m = this.#match(datagram, newestOnly);
      return typeof m === "string" ? m : null;
    } catch {
      return "bad_mac1";
    }
  }

  /**
   * Prefilter, decrypt, parse, authenticate the user and check the timestamp window.
   * Replay is NOT checked here: run {@linkcode ReplayGuard} on `msg.nonce` next.
   */
  open(datagram: Uint8Array, lookupUser: (id: number) => UserVerifier | undefined): OpenResult {
    try {
      return this.#open(datagram, lookupUser);
    } catch {
      return { ok: false, reason: "bad_inner" };
    }
  }

  #open(d: Uint8Array, lookupUser: (id: number) => UserVerifier | undefined): OpenResult {
    const m = this.#match(d);
    if (typeof m === "string") return { ok: false, reason: m };
    const suite = m;
    const mode = this.mode;
    const bodyEnd = d.length - MAC1_LEN - trailerOf(suite);
    const encWire = d.subarray(0, ENC_LEN);
    const enc = encWire.slice();
    enc[31] &= 0x7f;
    let ctx: HpkeContext | null = null;
    let inner: Uint8Array | null;
    if (mode === "secure") {
      ctx = suite.hpke.setupBaseR(enc, this.#sk, this.#pk, suite.info.secure);
      if (ctx === null) return { ok: false, reason: "decrypt_failed" };
      inner = ctx.open(encWire, d.subarray(ENC_LEN, bodyEnd));
      if (inner === null) return { ok: false, reason: "decrypt_failed" };
    } else {
      if ((encWire[31] & 0x80) !== 0) return { ok: false, reason: "bad_inner" };
      inner = d.subarray(ENC_LEN, bodyEnd);
    }
    const parsed = parseRequestInner(inner, suite.version);
    if (parsed === null) return { ok: false, reason: "bad_inner" };
    if (mode === "insecure" && parsed.signed.length + parsed.tag.length !== inner.length) {
      return { ok: false, reason: "bad_inner" }; // unauthenticated padding
    }
    const f = parsed.fields;
    let user: UserVerifier | undefined;
    try {
      user = lookupUser(f.userId);
    } catch {
      user = undefined;
    }
    if (user === undefined) return { ok: false, reason: "unknown_user", userId: f.userId };
    const parts = [suite.authContext[mode], enc, this.#pk, parsed.signed] as const;
    let oldUserKey = false;
    if (!verifyAuth(f.authKind, user, parts, parsed.tag)) {
      // During a user key rotation the previous HMAC key is accepted too (one more HMAC).
      const prev = user.previousHmacKey;
      oldUserKey = prev !== undefined && f.authKind === "hmac" &&
        verifyAuth(f.authKind, { hmacKey: prev }, parts, parsed.tag);
      if (!oldUserKey) return { ok: false, reason: "bad_auth", userId: f.userId };
    }
    if (ctx === null) {
      // Insecure mode: the HPKE context only keys replies.
      ctx = suite.hpke.setupBaseR(enc, this.#sk, this.#pk, suite.info.insecure);
      if (ctx === null) return { ok: false, reason: "decrypt_failed", userId: f.userId };
    }
    const c = ctx;
    const replier = new ReplySealer(suite.version, f.nonce, () => replyKey(suite, c, f.nonce));
    const msg: OpenedRequest = { ...f, mode };
    const now = this.#clock();
    if (f.timestamp < now - this.#skew) {
      return { ok: false, reason: "timestamp_old", userId: f.userId, replier, msg };
    }
    if (f.timestamp > now + this.#skew) {
      return { ok: false, reason: "timestamp_future", userId: f.userId, replier, msg };
    }
    return oldUserKey ? { ok: true, msg, replier, oldUserKey } : { ok: true, msg, replier };
  }
}

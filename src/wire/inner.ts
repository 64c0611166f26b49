/**
 * Request inner fields: the bytes that are sealed (secure mode) or sent in the clear
 * (insecure mode) between the encapsulated key and mac1. Strict parsing: every length
 * is checked, unknown codes and non-zero padding are refused.
 *
 * v2 (current): header (61) | allow address (0/4/16) | payload | authenticator | padding.
 * v1 (recognised only): header (44) | payload | cookie (0/16) | authenticator | padding.
 * @module
 */
import type { IpAddress } from "../util/ip.ts";
import {
  AllowFamily,
  AUTH_KIND_CODES,
  type AuthKind,
  COOKIE_LEN,
  ED25519_SIG_LEN,
  HMAC_TAG_LEN,
  MESSAGE_TYPE_CODES,
  type MessageType,
  messageTypeOf,
  NONCE_LEN,
  REQUEST_HEADER_LEN,
  REQUEST_HEADER_LEN_V2,
  REQUEST_TYPES,
  RequestFlag,
  RETRY_ID_LEN,
} from "./types.ts";

/** Request fields as carried on the wire. */
export interface RequestInner {
  /** Protocol version (1 or 2). */
  version: number;
  /** Message type (one of {@linkcode REQUEST_TYPES}). */
  type: MessageType;
  /** How the user authenticated. */
  authKind: AuthKind;
  /** Flag bits ({@linkcode RequestFlag}); in v1 bit 0 mirrors `cookie`, in v2 it is 0. */
  flags: number;
  /** User id (u32). */
  userId: number;
  /** Client time, ms since the epoch. */
  timestamp: number;
  /** 16 random bytes, new for every datagram: the replay key and the reply key's label. */
  nonce: Uint8Array;
  /**
   * 16 random bytes, the same for every retry of one logical request (v2). A v1 request
   * has none on the wire; its nonce stands in.
   */
  retryId: Uint8Array;
  /** Session id (u64). */
  sessionId: bigint;
  /** Action id (u16). */
  actionId: number;
  /** Payload (≤ 65535 bytes, and what fits the datagram). */
  payload: Uint8Array;
  /** v2: the address the client asks a firewall action to open (authenticated). */
  allowAddress?: IpAddress;
  /** v1 only: cookie answering a challenge, when flag bit 0 is set. */
  cookie?: Uint8Array;
}

/** Length of the user authenticator for an auth kind. */
export function authTagLength(kind: AuthKind): number {
  return kind === "hmac" ? HMAC_TAG_LEN : ED25519_SIG_LEN;
}

/** Bytes an allow address takes in v2 inner fields (0 none, 4 IPv4, 16 IPv6). */
export function allowAddressLength(a: IpAddress | undefined): number {
  return a === undefined ? 0 : a.family === 4 ? 4 : 16;
}

/**
 * Length of the authenticated part for these sizes. v2: header, allow address, payload
 * (`extra` = allow address bytes). v1: header, payload, cookie (`extra` = cookie bytes).
 */
export function signedLength(version: number, payloadLength: number, extra: number): number {
  return (version === 1 ? REQUEST_HEADER_LEN : REQUEST_HEADER_LEN_V2) + payloadLength + extra;
}

function writeAddress(out: Uint8Array, off: number, a: IpAddress): void {
  const n = a.family === 4 ? 4 : 16;
  let v = a.value;
  for (let i = n - 1; i >= 0; i--) {
    out[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function readAddress(buf: Uint8Array, off: number, n: number): bigint {
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[off + i]);
  return v;
}

/**
 * Encodes the authenticated part of the inner fields into `out` at offset 0 (which must
 * be at least {@linkcode signedLength} long); returns the length written.
 */
export function writeRequestSigned(out: Uint8Array, f: RequestInner): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = f.version;
  out[1] = MESSAGE_TYPE_CODES[f.type];
  out[2] = AUTH_KIND_CODES[f.authKind];
  view.setUint32(4, f.userId);
  view.setBigUint64(8, BigInt(f.timestamp));
  out.set(f.nonce, 16);
  if (f.version === 1) {
    const hasCookie = f.cookie !== undefined;
    out[3] = (f.flags & ~RequestFlag.Cookie & 0xff) | (hasCookie ? RequestFlag.Cookie : 0);
    view.setBigUint64(32, f.sessionId);
    view.setUint16(40, f.actionId);
    view.setUint16(42, f.payload.length);
    out.set(f.payload, REQUEST_HEADER_LEN);
    if (hasCookie) out.set(f.cookie!, REQUEST_HEADER_LEN + f.payload.length);
    return signedLength(1, f.payload.length, hasCookie ? COOKIE_LEN : 0);
  }
  out[3] = f.flags & ~RequestFlag.Cookie & 0xff;
  out.set(f.retryId, 32);
  view.setBigUint64(48, f.sessionId);
  view.setUint16(56, f.actionId);
  view.setUint16(58, f.payload.length);
  const a = f.allowAddress;
  out[60] = a === undefined ? AllowFamily.None : a.family === 4 ? AllowFamily.V4 : AllowFamily.V6;
  if (a !== undefined) writeAddress(out, REQUEST_HEADER_LEN_V2, a);
  const alen = allowAddressLength(a);
  out.set(f.payload, REQUEST_HEADER_LEN_V2 + alen);
  return signedLength(f.version, f.payload.length, alen);
}

/** A parsed inner block: the fields, the authenticated bytes and the authenticator. */
export interface ParsedInner {
  /** The fields (byte arrays are copies). */
  fields: RequestInner;
  /** The authenticated bytes (header, address or cookie, payload), a view into the input. */
  signed: Uint8Array;
  /** The user authenticator, a view into the input. */
  tag: Uint8Array;
}

function common(buf: Uint8Array, version: number, headerLen: number) {
  if (buf.length < headerLen + HMAC_TAG_LEN) return null;
  if (buf[0] !== version) return null;
  const type = messageTypeOf(buf[1]);
  if (type === undefined || !REQUEST_TYPES.has(type)) return null;
  const authKind: AuthKind | undefined = buf[2] === AUTH_KIND_CODES.hmac
    ? "hmac"
    : buf[2] === AUTH_KIND_CODES.ed25519
    ? "ed25519"
    : undefined;
  if (authKind === undefined) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const ts = view.getBigUint64(8);
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { type, authKind, view, timestamp: Number(ts) };
}

function finish(
  buf: Uint8Array,
  signedLen: number,
  authKind: AuthKind,
  fields: () => RequestInner,
): ParsedInner | null {
  const tagLen = authTagLength(authKind);
  if (signedLen + tagLen > buf.length) return null;
  for (let i = signedLen + tagLen; i < buf.length; i++) if (buf[i] !== 0) return null;
  return {
    fields: fields(),
    signed: buf.subarray(0, signedLen),
    tag: buf.subarray(signedLen, signedLen + tagLen),
  };
}

/** Parses inner fields of `version` (1 or 2); `null` for anything malformed (never throws). */
export function parseRequestInner(buf: Uint8Array, version: number): ParsedInner | null {
  return version === 1 ? parseV1(buf) : version === 2 ? parseV2(buf) : null;
}

function parseV1(buf: Uint8Array): ParsedInner | null {
  const c = common(buf, 1, REQUEST_HEADER_LEN);
  if (c === null) return null;
  const { view } = c;
  const flags = buf[3];
  const hasCookie = (flags & RequestFlag.Cookie) !== 0;
  const payloadLen = view.getUint16(42);
  const payloadEnd = REQUEST_HEADER_LEN + payloadLen;
  const signedLen = signedLength(1, payloadLen, hasCookie ? COOKIE_LEN : 0);
  return finish(buf, signedLen, c.authKind, () => {
    const nonce = buf.slice(16, 16 + NONCE_LEN);
    return {
      version: 1,
      type: c.type,
      authKind: c.authKind,
      flags,
      userId: view.getUint32(4),
      timestamp: c.timestamp,
      nonce,
      retryId: nonce.slice(),
      sessionId: view.getBigUint64(32),
      actionId: view.getUint16(40),
      payload: buf.slice(REQUEST_HEADER_LEN, payloadEnd),
      cookie: hasCookie ? buf.slice(payloadEnd, payloadEnd + COOKIE_LEN) : undefined,
    };
  });
}

function parseV2(buf: Uint8Array): ParsedInner | null {
  const c = common(buf, 2, REQUEST_HEADER_LEN_V2);
  if (c === null) return null;
  const { view } = c;
  const flags = buf[3];
  if ((flags & RequestFlag.Cookie) !== 0) return null; // reserved since v2
  const family = buf[60];
  const alen = family === AllowFamily.None
    ? 0
    : family === AllowFamily.V4
    ? 4
    : family === AllowFamily.V6
    ? 16
    : -1;
  if (alen < 0) return null;
  const payloadLen = view.getUint16(58);
  const payloadStart = REQUEST_HEADER_LEN_V2 + alen;
  const signedLen = signedLength(2, payloadLen, alen);
  if (signedLen > buf.length) return null;
  let allowAddress: IpAddress | undefined;
  if (alen === 4) allowAddress = { family: 4, value: readAddress(buf, REQUEST_HEADER_LEN_V2, 4) };
  if (alen === 16) {
    const value = readAddress(buf, REQUEST_HEADER_LEN_V2, 16);
    // One form per address: an IPv4-mapped IPv6 address must be sent as IPv4.
    if (value >> 32n === 0xffffn) return null;
    allowAddress = { family: 6, value };
  }
  return finish(buf, signedLen, c.authKind, () => ({
    version: 2,
    type: c.type,
    authKind: c.authKind,
    flags,
    userId: view.getUint32(4),
    timestamp: c.timestamp,
    nonce: buf.slice(16, 16 + NONCE_LEN),
    retryId: buf.slice(32, 32 + RETRY_ID_LEN),
    sessionId: view.getBigUint64(48),
    actionId: view.getUint16(56),
    payload: buf.slice(payloadStart, payloadStart + payloadLen),
    allowAddress,
  }));
}

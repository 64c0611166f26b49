/**
 * Request inner fields: the bytes that are sealed (secure mode) or sent in the clear
 * (insecure mode) between the encapsulated key and mac1. Strict parsing: every length
 * is checked, unknown codes and non-zero padding are refused.
 * @module
 */
import {
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
  REQUEST_TYPES,
  RequestFlag,
} from "./types.ts";

/** Request fields as carried on the wire (all present). */
export interface RequestInner {
  /** Protocol version. */
  version: number;
  /** Message type (one of {@linkcode REQUEST_TYPES}). */
  type: MessageType;
  /** How the user authenticated. */
  authKind: AuthKind;
  /** Flag bits ({@linkcode RequestFlag}); bit 0 mirrors `cookie`. */
  flags: number;
  /** User id (u32). */
  userId: number;
  /** Client time, ms since the epoch. */
  timestamp: number;
  /** 16 random bytes: the request id. */
  nonce: Uint8Array;
  /** Session id (u64). */
  sessionId: bigint;
  /** Action id (u16). */
  actionId: number;
  /** Payload (≤ 65535 bytes, and what fits the datagram). */
  payload: Uint8Array;
  /** Cookie answering a challenge, when flag bit 0 is set. */
  cookie?: Uint8Array;
}

/** Length of the user authenticator for an auth kind. */
export function authTagLength(kind: AuthKind): number {
  return kind === "hmac" ? HMAC_TAG_LEN : ED25519_SIG_LEN;
}

/** Length of the authenticated part (header, payload, cookie) for these fields. */
export function signedLength(payloadLength: number, hasCookie: boolean): number {
  return REQUEST_HEADER_LEN + payloadLength + (hasCookie ? COOKIE_LEN : 0);
}

/**
 * Encodes the authenticated part of the inner fields into `out` at offset 0 (which must
 * be at least {@linkcode signedLength} long); returns the length written.
 */
export function writeRequestSigned(out: Uint8Array, f: RequestInner): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const hasCookie = f.cookie !== undefined;
  out[0] = f.version;
  out[1] = MESSAGE_TYPE_CODES[f.type];
  out[2] = AUTH_KIND_CODES[f.authKind];
  out[3] = (f.flags & ~RequestFlag.Cookie & 0xff) | (hasCookie ? RequestFlag.Cookie : 0);
  view.setUint32(4, f.userId);
  view.setBigUint64(8, BigInt(f.timestamp));
  out.set(f.nonce, 16);
  view.setBigUint64(32, f.sessionId);
  view.setUint16(40, f.actionId);
  view.setUint16(42, f.payload.length);
  out.set(f.payload, REQUEST_HEADER_LEN);
  if (hasCookie) out.set(f.cookie!, REQUEST_HEADER_LEN + f.payload.length);
  return signedLength(f.payload.length, hasCookie);
}

/** A parsed inner block: the fields, the authenticated bytes and the authenticator. */
export interface ParsedInner {
  /** The fields (byte arrays are copies). */
  fields: RequestInner;
  /** The authenticated bytes (header, payload, cookie), a view into the input. */
  signed: Uint8Array;
  /** The user authenticator, a view into the input. */
  tag: Uint8Array;
}

/** Parses inner fields; `null` for anything malformed (never throws). */
export function parseRequestInner(buf: Uint8Array, version: number): ParsedInner | null {
  if (buf.length < REQUEST_HEADER_LEN + HMAC_TAG_LEN) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf[0] !== version) return null;
  const type = messageTypeOf(buf[1]);
  if (type === undefined || !REQUEST_TYPES.has(type)) return null;
  const authKind: AuthKind | undefined = buf[2] === AUTH_KIND_CODES.hmac
    ? "hmac"
    : buf[2] === AUTH_KIND_CODES.ed25519
    ? "ed25519"
    : undefined;
  if (authKind === undefined) return null;
  const flags = buf[3];
  const hasCookie = (flags & RequestFlag.Cookie) !== 0;
  const ts = view.getBigUint64(8);
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  const payloadLen = view.getUint16(42);
  const signedLen = signedLength(payloadLen, hasCookie);
  const tagLen = authTagLength(authKind);
  if (signedLen + tagLen > buf.length) return null;
  for (let i = signedLen + tagLen; i < buf.length; i++) if (buf[i] !== 0) return null;
  const payloadEnd = REQUEST_HEADER_LEN + payloadLen;
  return {
    fields: {
      version,
      type,
      authKind,
      flags,
      userId: view.getUint32(4),
      timestamp: Number(ts),
      nonce: buf.slice(16, 16 + NONCE_LEN),
      sessionId: view.getBigUint64(32),
      actionId: view.getUint16(40),
      payload: buf.slice(REQUEST_HEADER_LEN, payloadEnd),
      cookie: hasCookie ? buf.slice(payloadEnd, payloadEnd + COOKIE_LEN) : undefined,
    },
    signed: buf.subarray(0, signedLen),
    tag: buf.subarray(signedLen, signedLen + tagLen),
  };
}

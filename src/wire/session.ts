/**
 * Session datagrams (docs/PROTOCOL.md §18): after one authenticated request that asked for a
 * session, both sides derive two keys (one per direction) from that request's reply key,
 * which comes from the HPKE exporter. Later datagrams are
 *
 *     session id (8) ‖ counter (u64, 8) ‖ ChaCha20-Poly1305(key, 0^4 ‖ counter, aad = id ‖ counter, inner)
 *
 * with no public-key work; the receiver checks the counter against a sliding window
 * ({@linkcode ReplayWindow}) before the AEAD and records it after. Pure: no I/O.
 * @module
 */
import { CHACHA20_POLY1305 } from "../crypto/aead.ts";
import { hkdfExpand, hkdfExtract } from "../crypto/hkdf.ts";
import { MAX_DATAGRAM, MAX_REPLY_DATAGRAM, TAG_LEN } from "./types.ts";

/** Bytes before the ciphertext: session id and counter. */
export const SESSION_HEADER_LEN = 16;
/** Fixed part of a client-to-server inner message. */
export const SESSION_C2S_FIXED = 10;
/** Fixed part of a server-to-client inner message. */
export const SESSION_S2C_FIXED = 18;
/**
 * Smallest inner part of a command or migrate message: a datagram of at least 80 bytes, so
 * the server may answer one from a new address with a `prove` message (66 bytes) without
 * sending more than it received.
 */
export const MIN_COMMAND_INNER = 48;
/** Length of the cookie in `prove` and `migrate` messages. */
export const SESSION_COOKIE_LEN = 16;
/** Smallest session datagram (client to server, empty payload, padded to 16). */
export const MIN_SESSION_DATAGRAM = SESSION_HEADER_LEN + 16 + TAG_LEN;
/** Largest body of a server-to-client message in one datagram. */
export const MAX_SESSION_BODY = MAX_REPLY_DATAGRAM - SESSION_HEADER_LEN - SESSION_S2C_FIXED -
  TAG_LEN;
/** Largest payload of a command in one datagram. */
export const MAX_SESSION_PAYLOAD = MAX_DATAGRAM - SESSION_HEADER_LEN - SESSION_C2S_FIXED -
  TAG_LEN - 15;
/** Counters stay below 2^48 (far beyond any `max_messages`); larger ones are refused. */
export const MAX_SESSION_COUNTER = 2 ** 48 - 1;

const enc = new TextEncoder();
const SALT = enc.encode("siglatch v2 session");
const C2S = enc.encode("siglatch v2 session c2s");
const S2C = enc.encode("siglatch v2 session s2c");
const aead = CHACHA20_POLY1305;

/** Kinds of client-to-server messages. */
export const SessionC2S = Object.freeze({ Command: 1, Ack: 2, Close: 3, Migrate: 4 });
/** Kinds of server-to-client messages. */
export const SessionS2C = Object.freeze({ Result: 1, Event: 2, Closed: 3, Prove: 4, Running: 5 });
/** Flags of a client-to-server command. */
export const CommandFlag = Object.freeze({ Stream: 0x01 });
/** Flags of a server-to-client message. */
export const SessionFlag = Object.freeze({ Final: 0x01, Truncated: 0x02, Stderr: 0x04 });

/** The two keys of one session. */
export interface SessionKeys {
  /** Client to server. */
  c2s: Uint8Array;
  /** Server to client. */
  s2c: Uint8Array;
}

/** The 8 bytes of a session id. */
export function sessionIdBytes(id: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, id);
  return b;
}

/**
 * Session keys from the reply key of the request that opened the session (itself
 * `Export("siglatch v2 reply" ‖ request id, 32)`) and the id the server chose:
 * prk = HKDF-Extract("siglatch v2 session", reply_key ‖ id); key = HKDF-Expand(prk, label, 32).
 */
export function deriveSessionKeys(replyKey: Uint8Array, id: bigint): SessionKeys {
  if (replyKey.length !== 32) throw new RangeError("reply key must be 32 bytes");
  const prk = hkdfExtract(SALT, replyKey, sessionIdBytes(id));
  return { c2s: hkdfExpand(prk, [C2S], 32), s2c: hkdfExpand(prk, [S2C], 32) };
}

/** The session id of a datagram that may be a session datagram (by length), else undefined. */
export function sessionIdOf(datagram: Uint8Array): bigint | undefined {
  if (datagram.length < MIN_SESSION_DATAGRAM || datagram.length > MAX_DATAGRAM) return undefined;
  return new DataView(datagram.buffer, datagram.byteOffset, 8).getBigUint64(0);
}

/** The counter of a session datagram (its length already checked by `sessionIdOf`). */
export function sessionCounterOf(datagram: Uint8Array): number {
  const c = new DataView(datagram.buffer, datagram.byteOffset + 8, 8).getBigUint64(0);
  return c > BigInt(MAX_SESSION_COUNTER) ? -1 : Number(c);
}

function nonceOf(counter: number): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, BigInt(counter));
  return n;
}

/** Seals `inner` as a session datagram under `key` with `counter`. */
export function sealSession(
  key: Uint8Array,
  id: bigint,
  counter: number,
  inner: Uint8Array,
): Uint8Array {
  if (!Number.isSafeInteger(counter) || counter < 0 || counter > MAX_SESSION_COUNTER) {
    throw new RangeError("session counter out of range");
  }
  const header = new Uint8Array(SESSION_HEADER_LEN);
  const view = new DataView(header.buffer);
  view.setBigUint64(0, id);
  view.setBigUint64(8, BigInt(counter));
  const ct = aead.seal(key, nonceOf(counter), header, inner);
  const out = new Uint8Array(SESSION_HEADER_LEN + ct.length);
  out.set(header, 0);
  out.set(ct, SESSION_HEADER_LEN);
  return out;
}

/** Opens a session datagram under `key`; `null` when it does not verify. Never throws. */
export function openSession(key: Uint8Array, datagram: Uint8Array): Uint8Array | null {
  if (datagram.length < SESSION_HEADER_LEN + TAG_LEN) return null;
  const counter = sessionCounterOf(datagram);
  if (counter < 0) return null;
  try {
    return aead.open(
      key,
      nonceOf(counter),
      datagram.subarray(0, SESSION_HEADER_LEN),
      datagram.subarray(SESSION_HEADER_LEN),
    );
  } catch {
    return null;
  }
}

/** A client-to-server message. */
export interface SessionCommand {
  /** Command, ack (of stream events up to `cmd`/`seq`) or close. */
  kind: number;
  /** The client's number for this command (results echo it; a retry reuses it). */
  cmd: number;
  /** {@linkcode CommandFlag} bits (a command: Stream = output may come as events). */
  flags?: number;
  /** Action id (u16). */
  actionId: number;
  /** For an ack: the next event sequence number the client wants (all before arrived). */
  seq: number;
  /** Payload bytes (a command). */
  payload: Uint8Array;
}

/** Encodes a client-to-server inner message, zero-padded to a multiple of 16. */
export function encodeCommand(c: SessionCommand): Uint8Array {
  if (c.payload.length > MAX_SESSION_PAYLOAD) throw new RangeError("session payload too long");
  const natural = SESSION_C2S_FIXED + c.payload.length;
  const min = c.kind === SessionC2S.Command || c.kind === SessionC2S.Migrate
    ? MIN_COMMAND_INNER
    : 16;
  const out = new Uint8Array(Math.max(min, Math.ceil(natural / 16) * 16));
  const v = new DataView(out.buffer);
  out[0] = c.kind;
  out[1] = c.kind === SessionC2S.Command ? (c.flags ?? 0) & CommandFlag.Stream : 0;
  v.setUint32(2, c.cmd >>> 0);
  if (c.kind === SessionC2S.Ack) v.setUint32(6, c.seq >>> 0);
  else {
    v.setUint16(6, c.actionId);
    v.setUint16(8, c.payload.length);
    out.set(c.payload, SESSION_C2S_FIXED);
  }
  return out;
}

/** Parses a client-to-server inner message; `null` for anything malformed. */
export function parseCommand(inner: Uint8Array): SessionCommand | null {
  if (inner.length < SESSION_C2S_FIXED) return null;
  const v = new DataView(inner.buffer, inner.byteOffset, inner.byteLength);
  const kind = inner[0];
  if (kind < SessionC2S.Command || kind > SessionC2S.Migrate) return null;
  const flags = inner[1];
  if ((flags & ~(kind === SessionC2S.Command ? CommandFlag.Stream : 0)) !== 0) return null;
  const cmd = v.getUint32(2);
  if (kind === SessionC2S.Ack) {
    for (let i = SESSION_C2S_FIXED; i < inner.length; i++) if (inner[i] !== 0) return null;
    return { kind, cmd, flags, actionId: 0, seq: v.getUint32(6), payload: new Uint8Array() };
  }
  const len = v.getUint16(8);
  const end = SESSION_C2S_FIXED + len;
  if (end > inner.length) return null;
  for (let i = end; i < inner.length; i++) if (inner[i] !== 0) return null;
  return {
    kind,
    cmd,
    flags,
    actionId: v.getUint16(6),
    seq: 0,
    payload: inner.slice(SESSION_C2S_FIXED, end),
  };
}

/** A server-to-client message. */
export interface SessionAnswer {
  /** Result, event (a piece of streamed output) or closed. */
  kind: number;
  /** A `ReplyStatus`. */
  status: number;
  /** {@linkcode SessionFlag} bits. */
  flags: number;
  /** The command answered. */
  cmd: number;
  /** Exit code (i32). */
  exitCode: number;
  /** Sequence number of an event (0 for a result). */
  seq: number;
  /** Body bytes (JSON for a result, raw output for an event). */
  body: Uint8Array;
}

/** Encodes a server-to-client inner message (no padding: the client sent at least as much). */
export function encodeAnswer(a: SessionAnswer): Uint8Array {
  if (a.body.length > MAX_SESSION_BODY) throw new RangeError("session body too long");
  const out = new Uint8Array(SESSION_S2C_FIXED + a.body.length);
  const v = new DataView(out.buffer);
  out[0] = a.kind;
  out[1] = a.status;
  out[2] = a.flags;
  v.setUint32(4, a.cmd >>> 0);
  v.setInt32(8, a.exitCode | 0);
  v.setUint32(12, a.seq >>> 0);
  v.setUint16(16, a.body.length);
  out.set(a.body, SESSION_S2C_FIXED);
  return out;
}

/** Parses a server-to-client inner message; `null` for anything malformed. */
export function parseAnswer(inner: Uint8Array): SessionAnswer | null {
  if (inner.length < SESSION_S2C_FIXED) return null;
  const v = new DataView(inner.buffer, inner.byteOffset, inner.byteLength);
  const kind = inner[0];
  if (kind < SessionS2C.Result || kind > SessionS2C.Running || inner[3] !== 0) return null;
  if ((inner[2] & ~0x07) !== 0) return null;
  const len = v.getUint16(16);
  if (SESSION_S2C_FIXED + len !== inner.length) return null;
  return {
    kind,
    status: inner[1],
    flags: inner[2],
    cmd: v.getUint32(4),
    exitCode: v.getInt32(8),
    seq: v.getUint32(12),
    body: inner.slice(SESSION_S2C_FIXED),
  };
}

/**
 * Replies: sealed by the server under a key only the requesting client can derive
 * (HPKE exporter of the request's context, bound to the request id), so a client can
 * tell a real reply from a forged one. A reply datagram is a random 12-byte nonce and
 * an AEAD ciphertext: it looks random too. Several replies may answer one request
 * (sequence numbers for progress/events; `final` on the last).
 * @module
 */
import { randomFillSync } from "node:crypto";
import { CHACHA20_POLY1305 } from "../crypto/aead.ts";
import { constantTimeEqual } from "../crypto/ct.ts";
import {
  MAX_DATAGRAM,
  MAX_REPLY_DATAGRAM,
  MESSAGE_TYPE_CODES,
  type MessageType,
  messageTypeOf,
  MIN_REPLY_DATAGRAM,
  NONCE_LEN,
  REPLY_HEADER_LEN,
  REPLY_NONCE_LEN,
  REPLY_OVERHEAD,
  REPLY_TYPES,
  ReplyFlag,
  type ReplyReason,
} from "./types.ts";

/** Message types a reply can have. */
export type ReplyType = "reply" | "challenge" | "notice" | "event";

/** What the server puts in a reply. */
export interface ReplyFields {
  /** Reply type (default "reply"). */
  type?: ReplyType;
  /** Status code ({@linkcode ReplyStatus}), u8. */
  status: number;
  /** Sequence number for several replies to one request (u16, default 0). */
  seq?: number;
  /** Last reply for this request (default true). */
  final?: boolean;
  /** The body was cut to fit (default false). */
  truncated?: boolean;
  /** Exit code of the action (i32, default 0). */
  exitCode?: number;
  /** Server time, ms since the epoch. */
  serverTime: number;
  /** Request id being answered; must equal the sealer's when given. */
  requestId?: Uint8Array;
  /** Body bytes (JSON by convention; a raw 16-byte cookie for a challenge). */
  body?: Uint8Array;
  /** Pad the datagram with zeros (inside the ciphertext) to this many bytes. */
  padTo?: number;
}

/** A reply as the client sees it. */
export interface OpenedReply {
  /** Protocol version. */
  version: number;
  /** Reply type. */
  type: ReplyType;
  /** Status code. */
  status: number;
  /** Sequence number. */
  seq: number;
  /** Last reply for this request. */
  final: boolean;
  /** The body was cut. */
  truncated: boolean;
  /** Exit code. */
  exitCode: number;
  /** Server time (ms). */
  serverTime: number;
  /** The request id answered. */
  requestId: Uint8Array;
  /** Body bytes. */
  body: Uint8Array;
}

/** Result of {@linkcode ReplyOpener.open}. */
export type ReplyOpenResult = { ok: true; reply: OpenedReply } | { ok: false; reason: ReplyReason };

/**
 * The largest reply body that keeps a reply datagram within `limit` bytes (and within
 * {@linkcode MAX_REPLY_DATAGRAM}); 0 when even an empty reply would not fit.
 */
export function maxReplyBody(limit: number): number {
  return Math.max(0, Math.min(limit, MAX_REPLY_DATAGRAM) - REPLY_OVERHEAD);
}

const aead = CHACHA20_POLY1305;
const EMPTY = new Uint8Array(0);

/** Server side: seals replies to one request. Obtained from `RequestOpener.open`. */
export class ReplySealer {
  /** The request id this sealer answers. */
  readonly requestId: Uint8Array;
  readonly #version: number;
  readonly #deriveKey: () => Uint8Array;
  #key?: Uint8Array;

  /** `deriveKey` yields the 32-byte reply key (called once, on first seal). */
  constructor(version: number, requestId: Uint8Array, deriveKey: () => Uint8Array) {
    this.#version = version;
    this.requestId = requestId;
    this.#deriveKey = deriveKey;
  }

  /** The protocol version replies are sealed for. */
  get version(): number {
    return this.#version;
  }

  /**
   * The 32-byte reply key (derived now if it was not yet), so a sealer can be rebuilt in
   * another thread with `new ReplySealer(version, requestId, () => key)`. Secret: it opens
   * and forges every reply to this request.
   */
  exportKey(): Uint8Array {
    return this.#key ??= this.#deriveKey();
  }

  /**
   * Seals one reply.
   * @throws {RangeError} when a field is out of range or the datagram would exceed
   *   {@linkcode MAX_REPLY_DATAGRAM} (use {@linkcode maxReplyBody}).
   */
  seal(fields: ReplyFields, opts: { nonce?: Uint8Array } = {}): Uint8Array {
    const type = fields.type ?? "reply";
    const body = fields.body ?? EMPTY;
    const seq = fields.seq ?? 0;
    const exitCode = fields.exitCode ?? 0;
    if (!REPLY_TYPES.has(type)) throw new RangeError(`not a reply type: ${type}`);
    if (!Number.isInteger(fields.status) || fields.status < 0 || fields.status > 255) {
      throw new RangeError("status must be a u8");
    }
    if (!Number.isInteger(seq) || seq < 0 || seq > 0xffff) {
      throw new RangeError("seq must be a u16");
    }
    if (!Number.isInteger(exitCode) || exitCode < -0x80000000 || exitCode > 0x7fffffff) {
      throw new RangeError("exitCode must be an i32");
    }
    if (!Number.isSafeInteger(fields.serverTime) || fields.serverTime < 0) {
      throw new RangeError("serverTime must be a non-negative integer");
    }
    if (fields.requestId !== undefined && !constantTimeEqual(fields.requestId, this.requestId)) {
      throw new RangeError("requestId does not match the request this sealer answers");
    }
    const natural = REPLY_OVERHEAD + body.length;
    const total = Math.max(natural, Math.min(fields.padTo ?? 0, MAX_REPLY_DATAGRAM));
    if (total > MAX_REPLY_DATAGRAM) {
      throw new RangeError(`reply of ${natural} bytes exceeds ${MAX_REPLY_DATAGRAM}`);
    }
    const inner = new Uint8Array(total - REPLY_NONCE_LEN - aead.tagLength);
    const view = new DataView(inner.buffer);
    inner[0] = this.#version;
    inner[1] = MESSAGE_TYPE_CODES[type];
    inner[2] = fields.status;
    inner[3] = ((fields.final ?? true) ? ReplyFlag.Final : 0) |
      (fields.truncated ? ReplyFlag.Truncated : 0);
    view.setUint16(4, seq);
    view.setInt32(6, exitCode);
    view.setBigUint64(10, BigInt(fields.serverTime));
    inner.set(this.requestId, 18);
    view.setUint16(34, body.length);
    inner.set(body, REPLY_HEADER_LEN);
    const nonce = opts.nonce ?? randomFillSync(new Uint8Array(REPLY_NONCE_LEN));
    if (nonce.length !== REPLY_NONCE_LEN) throw new RangeError("reply nonce must be 12 bytes");
    this.#key ??= this.#deriveKey();
    const ct = aead.seal(this.#key, nonce, EMPTY, inner);
    const out = new Uint8Array(REPLY_NONCE_LEN + ct.length);
    out.set(nonce, 0);
    out.set(ct, REPLY_NONCE_LEN);
    return out;
  }
}

/** Client side: opens replies to one request it sent. Returned by `sealRequest`. */
export class ReplyOpener {
  /** The request id this opener accepts replies for. */
  readonly requestId: Uint8Array;
  readonly #version: number;
  readonly #key: Uint8Array;

  /** `key` is the 32-byte reply key derived from the request's HPKE context. */
  constructor(version: number, requestId: Uint8Array, key: Uint8Array) {
    this.#version = version;
    this.requestId = requestId;
    this.#key = key;
  }

  /** The 32-byte reply key (secret): session keys are derived from it (`wire/session.ts`). */
  exportKey(): Uint8Array {
    return this.#key.slice();
  }

  /** Opens a reply datagram; never throws. */
  open(datagram: Uint8Array): ReplyOpenResult {
    try {
      return this.#open(datagram);
    } catch {
      return { ok: false, reason: "bad_inner" };
    }
  }

  #open(datagram: Uint8Array): ReplyOpenResult {
    if (datagram.length < MIN_REPLY_DATAGRAM) return { ok: false, reason: "too_short" };
    if (datagram.length > MAX_DATAGRAM) return { ok: false, reason: "too_long" };
    const nonce = datagram.subarray(0, REPLY_NONCE_LEN);
    const inner = aead.open(this.#key, nonce, EMPTY, datagram.subarray(REPLY_NONCE_LEN));
    if (inner === null) return { ok: false, reason: "decrypt_failed" };
    const view = new DataView(inner.buffer, inner.byteOffset, inner.byteLength);
    if (inner[0] !== this.#version) return { ok: false, reason: "bad_inner" };
    const type = messageTypeOf(inner[1]) as MessageType | undefined;
    if (type === undefined || !REPLY_TYPES.has(type)) return { ok: false, reason: "bad_inner" };
    const flags = inner[3];
    if ((flags & ~(ReplyFlag.Final | ReplyFlag.Truncated)) !== 0) {
      return { ok: false, reason: "bad_inner" };
    }
    const serverTime = view.getBigUint64(10);
    if (serverTime > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: "bad_inner" };
    const requestId = inner.slice(18, 18 + NONCE_LEN);
    const bodyLen = view.getUint16(34);
    const end = REPLY_HEADER_LEN + bodyLen;
    if (end > inner.length) return { ok: false, reason: "bad_inner" };
    for (let i = end; i < inner.length; i++) {
      if (inner[i] !== 0) return { ok: false, reason: "bad_inner" };
    }
    if (!constantTimeEqual(requestId, this.requestId)) {
      return { ok: false, reason: "wrong_request" };
    }
    return {
      ok: true,
      reply: {
        version: inner[0],
        type: type as ReplyType,
        status: inner[2],
        seq: view.getUint16(4),
        final: (flags & ReplyFlag.Final) !== 0,
        truncated: (flags & ReplyFlag.Truncated) !== 0,
        exitCode: view.getInt32(6),
        serverTime: Number(serverTime),
        requestId,
        body: inner.slice(REPLY_HEADER_LEN, end),
      },
    };
  }
}

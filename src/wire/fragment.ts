/**
 * Fragments: a message larger than one datagram travels as `fragment` requests of one
 * session id, each ≤ 1200 bytes, each sealed and authenticated on its own. A fragment's
 * payload is: index (u16) || count (u16) || chunk. The action id and user are the same
 * in every fragment; the reassembled payload is the concatenation of the chunks. All
 * fragments of one message share one retry id (a retry of the message sends them all again
 * with new nonces and the same retry id).
 * @module
 */
import { randomFillSync } from "node:crypto";
import type { UserAuth } from "./auth.ts";
import {
  requestDatagramLength,
  type RequestFields,
  type SealedRequest,
  type SealOptions,
  sealRequest,
} from "./request.ts";
import { COOKIE_LEN, MAX_REPLY_DATAGRAM } from "./types.ts";
import { parseIp } from "../util/ip.ts";

/** Length of the fragment header inside the payload. */
export const FRAGMENT_HEADER_LEN = 4;
/** Default size limit of one fragment datagram. */
export const MAX_FRAGMENT_DATAGRAM = MAX_REPLY_DATAGRAM;

/** One parsed fragment payload. */
export interface Fragment {
  /** Position (0-based). */
  index: number;
  /** Number of fragments in the message (≥ 1). */
  count: number;
  /** This fragment's bytes. */
  chunk: Uint8Array;
}

/** Encodes a fragment payload. */
export function encodeFragment(index: number, count: number, chunk: Uint8Array): Uint8Array {
  if (!Number.isInteger(count) || count < 1 || count > 0xffff) {
    throw new RangeError("bad fragment count");
  }
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError("bad fragment index");
  }
  const out = new Uint8Array(FRAGMENT_HEADER_LEN + chunk.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, index);
  view.setUint16(2, count);
  out.set(chunk, FRAGMENT_HEADER_LEN);
  return out;
}

/** Parses a fragment payload; `null` when malformed. */
export function parseFragment(payload: Uint8Array): Fragment | null {
  if (payload.length < FRAGMENT_HEADER_LEN) return null;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const index = view.getUint16(0);
  const count = view.getUint16(2);
  if (count < 1 || index >= count) return null;
  return { index, count, chunk: payload.subarray(FRAGMENT_HEADER_LEN) };
}

/** Fields of a fragmented message (type and session id are set here). */
export type FragmentedFields = Omit<RequestFields, "type" | "nonce" | "payload"> & {
  payload: Uint8Array;
};

/** Options of {@linkcode sealFragments}. */
export interface FragmentOptions extends SealOptions {
  /** Largest fragment datagram (default and maximum 1200). */
  maxDatagram?: number;
}

/**
 * Largest chunk per fragment for this auth kind, allow address size (0, 4 or 16 bytes;
 * the v1 cookie's 0 or 16 when `version` is 1), mode and datagram limit.
 */
export function maxFragmentChunk(
  authKind: UserAuth["kind"],
  extra = 0,
  insecure = false,
  maxDatagram = MAX_FRAGMENT_DATAGRAM,
  version: 1 | 2 = 2,
): number {
  return Math.min(maxDatagram, MAX_FRAGMENT_DATAGRAM) -
    requestDatagramLength(FRAGMENT_HEADER_LEN, authKind, extra, insecure, version);
}

/** Bytes the allow address (v2) or the cookie (v1) add to each fragment. */
function extraOf(fields: FragmentedFields, version: 1 | 2): number {
  if (version === 1) return fields.cookie !== undefined ? COOKIE_LEN : 0;
  if (fields.allowAddress === undefined) return 0;
  const ip = parseIp(fields.allowAddress);
  if (ip === undefined) throw new RangeError(`allowAddress: not an IP address`);
  return ip.family === 4 ? 4 : 16;
}

/**
 * Splits `fields.payload` into sealed fragment requests of one (random unless given)
 * session id. Each datagram is ≤ `maxDatagram`.
 */
export function sealFragments(
  serverPublic: Uint8Array,
  auth: UserAuth,
  fields: FragmentedFields,
  opts: FragmentOptions = {},
): { sessionId: bigint; parts: SealedRequest[] } {
  const limit = Math.min(opts.maxDatagram ?? MAX_FRAGMENT_DATAGRAM, MAX_FRAGMENT_DATAGRAM);
  const version = opts.version ?? 2;
  const extra = extraOf(fields, version);
  const chunkLen = maxFragmentChunk(auth.kind, extra, opts.insecure, limit, version);
  if (chunkLen < 1) throw new RangeError("maxDatagram too small for a fragment");
  const count = Math.max(1, Math.ceil(fields.payload.length / chunkLen));
  if (count > 0xffff) throw new RangeError("message too large to fragment");
  const sessionId = fields.sessionId ??
    new DataView(randomFillSync(new Uint8Array(8)).buffer).getBigUint64(0);
  const retryId = fields.retryId ?? randomFillSync(new Uint8Array(16));
  const parts: SealedRequest[] = [];
  for (let i = 0; i < count; i++) {
    const chunk = fields.payload.subarray(i * chunkLen, (i + 1) * chunkLen);
    const payload = encodeFragment(i, count, chunk);
    const natural = requestDatagramLength(payload.length, auth.kind, extra, opts.insecure, version);
    parts.push(
      sealRequest(serverPublic, auth, {
        ...fields,
        type: "fragment",
        sessionId,
        payload,
        retryId: version === 1 ? undefined : retryId,
      }, {
        ...opts,
        padTo: Math.min(Math.max(opts.padTo ?? 0, natural), limit),
      }),
    );
  }
  return { sessionId, parts };
}

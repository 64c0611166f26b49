/**
 * Relay layers (docs/PROTOCOL.md §19): the payload of a request to a relay action is the
 * datagram for the next hop, sealed by the client to that hop, behind a 2-byte header. The
 * relay cannot read or change it; it forwards the bytes and returns the next hop's reply
 * datagram, raw, as the body of a `Relayed` reply. Pure: sizes and the layer format only.
 * @module
 */
import type { UserAuth } from "./auth.ts";
import { requestDatagramLength } from "./request.ts";
import { MAX_DATAGRAM, MAX_REPLY_DATAGRAM, REPLY_OVERHEAD } from "./types.ts";

/** The layer format this code writes and reads (first payload byte). */
export const RELAY_FORMAT = 1;
/** Bytes before the next hop's datagram: format (u8), hops after this one (u8), flags (u8). */
export const RELAY_HEADER_LEN = 3;
/** Layer flags (third header byte); any other bit set is refused. */
export const RelayFlag = Object.freeze({
  /**
   * No answer is expected (a fragment before the last: the next hop answers only the fragment
   * that completes the message, which after reordering may be any of them). The relay still
   * waits and passes an answer on, but silence is not an error: it then answers nothing, and
   * it takes no slot of the action's `max_pending` (only of the relays' total).
   */
  NoReply: 1,
  /**
   * The datagram opens a session (PROTOCOL §18): when the next hop answers, the relay keeps
   * the socket it forwarded from as a path for the client's later session datagrams
   * (`src/actions/relay_paths.ts`).
   */
  Session: 2,
});
/** Largest relay layer: the header and one datagram (an action's max_payload does not apply). */
export const RELAY_MAX_PAYLOAD = RELAY_HEADER_LEN + MAX_DATAGRAM;
/** Smallest datagram a relay forwards: the smallest v2 request (HMAC, empty payload). */
export const RELAY_MIN_INNER = requestDatagramLength(0, "hmac");
/**
 * Most relays one datagram can pass, whatever it claims: each layer adds at least
 * {@linkcode RELAY_MIN_INNER} + 2 bytes and a datagram is at most 1400 bytes.
 */
export const RELAY_STRUCTURAL_MAX_HOPS = Math.floor(
  (MAX_DATAGRAM - RELAY_MIN_INNER) / (RELAY_MIN_INNER + RELAY_HEADER_LEN),
);

/** A parsed relay layer. */
export interface RelayLayer {
  /** How many relays the datagram still passes after this one (as the client declared it). */
  hopsAfter: number;
  /** Flag bits ({@linkcode RelayFlag}). */
  flags: number;
  /** The datagram for the next hop (a view of the payload). */
  datagram: Uint8Array;
}

/** Builds a relay layer's payload. */
export function encodeRelayPayload(
  hopsAfter: number,
  datagram: Uint8Array,
  flags = 0,
): Uint8Array {
  if (!Number.isInteger(hopsAfter) || hopsAfter < 0 || hopsAfter > 255) {
    throw new RangeError("hopsAfter must be a u8");
  }
  const out = new Uint8Array(RELAY_HEADER_LEN + datagram.length);
  out[0] = RELAY_FORMAT;
  out[1] = hopsAfter;
  out[2] = flags;
  out.set(datagram, RELAY_HEADER_LEN);
  return out;
}

/**
 * Parses a relay layer: the format and flags must be known, the datagram between the smallest request
 * and 1400 bytes, and large enough for the layers it claims to still contain. `null` when not.
 */
export function parseRelayPayload(payload: Uint8Array): RelayLayer | null {
  if (payload.length < RELAY_HEADER_LEN + RELAY_MIN_INNER) return null;
  if (payload.length > RELAY_MAX_PAYLOAD) return null;
  if (payload[0] !== RELAY_FORMAT) return null;
  const hopsAfter = payload[1];
  const flags = payload[2];
  if ((flags & ~(RelayFlag.NoReply | RelayFlag.Session)) !== 0) return null;
  const datagram = payload.subarray(RELAY_HEADER_LEN);
  // Each remaining layer needs a whole request around the next one.
  if (datagram.length < RELAY_MIN_INNER + hopsAfter * (RELAY_MIN_INNER + RELAY_HEADER_LEN)) {
    return null;
  }
  return { hopsAfter, flags, datagram };
}

/** Most bytes one layer can add around the datagram it carries (padding to 16 included). */
export function relayLayerOverhead(kind: UserAuth["kind"]): number {
  return requestDatagramLength(RELAY_HEADER_LEN, kind) + 15;
}

/**
 * The largest innermost datagram for a chain of `hops` relays: every layer must fit in 1400
 * bytes, and the final server's reply (at most the innermost datagram's size, to a relay that
 * did not prove its address) plus one reply envelope per relay must fit in a 1200-byte reply.
 * A multiple of 16.
 */
export function innermostLimit(hops: number, kind: UserAuth["kind"]): number {
  const bySend = MAX_DATAGRAM - hops * relayLayerOverhead(kind);
  const byReply = MAX_REPLY_DATAGRAM - hops * REPLY_OVERHEAD;
  return Math.floor(Math.min(bySend, byReply, MAX_REPLY_DATAGRAM) / 16) * 16;
}

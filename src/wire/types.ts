/**
 * Wire protocol (v2, v1 still parsed): sizes, message types, reply status codes, flags and rejection
 * reasons. Byte layouts are documented in docs/PROTOCOL.md.
 * @module
 */

/** Largest request datagram accepted (bytes); larger ones are dropped before any work. */
export const MAX_DATAGRAM = 1400;
/** Largest reply (and fragment) datagram we ever produce (bytes). */
export const MAX_REPLY_DATAGRAM = 1200;
/** Length of the mac1 field (v1: last 16 bytes; v2: the 16 bytes before mac2). */
export const MAC1_LEN = 16;
/** Length of the mac2 field at the end of every v2 request datagram. */
export const MAC2_LEN = 16;
/** Length of the retry id (v2): random per logical request, the same across its retries. */
export const RETRY_ID_LEN = 16;
/** Length of the encapsulated X25519 key at the start of every request datagram. */
export const ENC_LEN = 32;
/** Length of the AEAD tag (ChaCha20-Poly1305). */
export const TAG_LEN = 16;
/** Length of the request nonce (= request id). */
export const NONCE_LEN = 16;
/** Length of a cookie (v1 in-request cookie; v2 mac2 key). */
export const COOKIE_LEN = 16;
/** Length of the fixed part of a v1 request's inner fields (before the payload). */
export const REQUEST_HEADER_LEN = 44;
/** Length of the fixed part of a v2 request's inner fields (before the allow address). */
export const REQUEST_HEADER_LEN_V2 = 61;
/** Allow-address family byte (v2 inner fields): none, IPv4, IPv6. */
export const AllowFamily = Object.freeze({ None: 0, V4: 4, V6: 6 });
/** Length of an HMAC-SHA256 user authenticator. */
export const HMAC_TAG_LEN = 32;
/** Length of an Ed25519 signature. */
export const ED25519_SIG_LEN = 64;
/**
 * Largest payload a single v2 request can carry with no allow address (u16 length field,
 * bounded by the datagram).
 */
export const MAX_PAYLOAD = MAX_DATAGRAM -
  (ENC_LEN + REQUEST_HEADER_LEN_V2 + HMAC_TAG_LEN + TAG_LEN + MAC1_LEN + MAC2_LEN);
/** Length of the reply's clear random nonce. */
export const REPLY_NONCE_LEN = 12;
/** Length of the fixed part of a reply's inner fields (before the body). */
export const REPLY_HEADER_LEN = 36;
/** Bytes a reply adds around its body: nonce + header + tag. */
export const REPLY_OVERHEAD = REPLY_NONCE_LEN + REPLY_HEADER_LEN + TAG_LEN;
/** Smallest reply datagram. */
export const MIN_REPLY_DATAGRAM = REPLY_OVERHEAD;

/** Message types (inner field `type`). */
export type MessageType =
  | "request"
  | "reply"
  | "challenge"
  | "fragment"
  | "keepalive"
  | "chaff"
  | "notice"
  | "event"
  | "enroll";

/** Code of each message type on the wire. */
export const MESSAGE_TYPE_CODES: Readonly<Record<MessageType, number>> = Object.freeze({
  request: 1,
  reply: 2,
  challenge: 3,
  fragment: 4,
  keepalive: 5,
  chaff: 6,
  notice: 7,
  event: 8,
  enroll: 9,
});

/** Message types a client may send (inside a request datagram). */
export const REQUEST_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  "request",
  "fragment",
  "keepalive",
  "chaff",
  "notice",
  "event",
  "enroll",
]);

/** Message types a server may send (inside a reply datagram). */
export const REPLY_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  "reply",
  "challenge",
  "notice",
  "event",
]);

const TYPE_BY_CODE: readonly (MessageType | undefined)[] = (() => {
  const t: (MessageType | undefined)[] = [];
  for (const [k, v] of Object.entries(MESSAGE_TYPE_CODES)) t[v] = k as MessageType;
  return t;
})();

/** The message type of a wire code, or `undefined`. */
export function messageTypeOf(code: number): MessageType | undefined {
  return TYPE_BY_CODE[code];
}

/** How the user authenticated a request. */
export type AuthKind = "hmac" | "ed25519";

/** Wire codes of {@linkcode AuthKind}. */
export const AUTH_KIND_CODES: Readonly<Record<AuthKind, number>> = Object.freeze({
  hmac: 1,
  ed25519: 2,
});

/**
 * Request flag bits. Bit 0 is set by the v1 codec from the presence of a cookie; in v2 it
 * is reserved (mac2 replaced the in-request cookie) and a request with it set is refused.
 */
export const RequestFlag = Object.freeze({
  /** v1 only: a 16-byte cookie follows the payload (answer to a challenge). */
  Cookie: 0x01,
  /** Ask the server to evaluate but not run the action. */
  DryRun: 0x02,
  /** The client wants a reply (informational; the server decides). */
  WantReply: 0x04,
  /** Open a session after this request (docs/PROTOCOL.md §18); the action is checked, not run. */
  Session: 0x08,
});

/** Reply flag bits. */
export const ReplyFlag = Object.freeze({
  /** Last reply for this request. */
  Final: 0x01,
  /** The body was cut to fit. */
  Truncated: 0x02,
});

/** Reply status codes (u8). */
export const ReplyStatus = Object.freeze({
  Ok: 0,
  Error: 1,
  Denied: 2,
  ClockSkew: 3,
  Busy: 4,
  Challenge: 5,
  DryRun: 6,
  Progress: 7,
  /** A relay's answer: the body is the next hop's reply datagram, raw (docs/PROTOCOL.md §19). */
  Relayed: 8,
});

/** Why a datagram was rejected (internal; never sent on the wire). */
export type Reason =
  | "too_short"
  | "too_long"
  | "bad_mac1"
  | "wrong_mode"
  | "decrypt_failed"
  | "bad_inner"
  | "unknown_user"
  | "bad_auth"
  | "timestamp_old"
  | "timestamp_future"
  | "replay"
  | "replay_cache_full";

/** Current wire version (what clients send). */
export const WIRE_VERSION = 2;

/** Why a reply datagram was not accepted by the client. */
export type ReplyReason =
  | "too_short"
  | "too_long"
  | "decrypt_failed"
  | "bad_inner"
  | "wrong_request";

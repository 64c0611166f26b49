/**
 * Invites and the enroll request's payload (docs/PROTOCOL.md §15).
 *
 * An invite is one short text, `sli1.` + base64url of:
 *
 *     version (1) = 1 ‖ port (u16) ‖ invite id (u32) ‖ secret (32) ‖ server X25519 key (32)
 *       ‖ host length (u8) ‖ host (UTF-8)
 *
 * or, when the server has an identity (format 2, 32 bytes more):
 *
 *     version (1) = 2 ‖ port ‖ invite id ‖ secret ‖ server X25519 key ‖ identity pin (32)
 *       ‖ host length (u8) ‖ host
 *
 * The identity pin is the server's Ed25519 identity public key: the client then takes the
 * server's key only with a certificate by that identity (docs/PROTOCOL.md §14), in every
 * answer, and writes the pin into the profile.
 * The invite id is the user id of the enroll request, the secret its HMAC key: without the
 * secret nobody can make an enroll request the server opens. The server key in the invite
 * is what the request is sealed to (the invite is the pin: hand it over as a secret).
 * Pure: no I/O.
 * @module
 */

/** Prefix of an invite's text. */
export const INVITE_PREFIX = "sli1.";
/** Format byte of an enroll payload. */
export const ENROLL_PAYLOAD_FORMAT = 1;
/** Length of an enroll payload: format ‖ Ed25519 public key. */
export const ENROLL_PAYLOAD_LENGTH = 33;
/** Smallest invite id (ids of invites never collide with enrolled users'). */
export const INVITE_ID_MIN = 0x80000000;
/** Smallest enrolled user id. */
export const ENROLLED_ID_MIN = 0x40000000;

/** What an invite carries. */
export interface Invite {
  /** Server host (name or address). */
  host: string;
  /** Server UDP port. */
  port: number;
  /** Invite id (the enroll request's user id). */
  id: number;
  /** One-time secret (32 bytes): the enroll request's HMAC key. */
  secret: Uint8Array;
  /** Server X25519 public key (32 bytes). */
  serverPublic: Uint8Array;
  /** The server's identity pin (Ed25519 public key, 32 bytes), when it has one. */
  identity?: Uint8Array;
}

/** Offset of the host length byte: after the server key, and the pin in format 2. */
function hostAt(version: number): number {
  return version === 2 ? 103 : 71;
}

/** Encodes an invite as its text. */
export function encodeInvite(inv: Invite): string {
  const host = new TextEncoder().encode(inv.host);
  if (host.length === 0 || host.length > 255) throw new RangeError("invite host: 1-255 bytes");
  if (
    inv.secret.length !== 32 || inv.serverPublic.length !== 32 ||
    (inv.identity !== undefined && inv.identity.length !== 32)
  ) {
    throw new RangeError("invite secret, server key and identity must be 32 bytes");
  }
  const version = inv.identity === undefined ? 1 : 2;
  const at = hostAt(version);
  const out = new Uint8Array(at + 1 + host.length);
  const dv = new DataView(out.buffer);
  out[0] = version;
  dv.setUint16(1, inv.port);
  dv.setUint32(3, inv.id);
  out.set(inv.secret, 7);
  out.set(inv.serverPublic, 39);
  if (inv.identity !== undefined) out.set(inv.identity, 71);
  out[at] = host.length;
  out.set(host, at + 1);
  return INVITE_PREFIX + out.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Decodes an invite's text; throws an Error saying what is wrong. */
export function decodeInvite(text: string): Invite {
  const t = text.trim();
  if (!t.startsWith(INVITE_PREFIX)) throw new Error(`not an invite (expected ${INVITE_PREFIX}…)`);
  let b: Uint8Array;
  try {
    b = Uint8Array.fromBase64(t.slice(INVITE_PREFIX.length), { alphabet: "base64url" });
  } catch {
    throw new Error("invite: not base64url");
  }
  const version = b[0];
  const at = hostAt(version);
  if ((version !== 1 && version !== 2) || b.length < at + 2 || b.length !== at + 1 + b[at]) {
    throw new Error("invite: bad length or version");
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const port = dv.getUint16(1);
  const id = dv.getUint32(3);
  if (port === 0 || id < INVITE_ID_MIN) throw new Error("invite: bad port or id");
  let host: string;
  try {
    host = new TextDecoder("utf-8", { fatal: true }).decode(b.subarray(at + 1));
  } catch {
    throw new Error("invite: host is not UTF-8");
  }
  return {
    host,
    port,
    id,
    secret: b.slice(7, 39),
    serverPublic: b.slice(39, 71),
    ...(version === 2 ? { identity: b.slice(71, 103) } : {}),
  };
}

/** The enroll request's payload for the user's new Ed25519 public key. */
export function enrollPayload(ed25519Public: Uint8Array): Uint8Array {
  if (ed25519Public.length !== 32) throw new RangeError("Ed25519 public key must be 32 bytes");
  const out = new Uint8Array(ENROLL_PAYLOAD_LENGTH);
  out[0] = ENROLL_PAYLOAD_FORMAT;
  out.set(ed25519Public, 1);
  return out;
}

/** The Ed25519 public key of an enroll payload, or `undefined` when it is malformed. */
export function parseEnrollPayload(payload: Uint8Array): Uint8Array | undefined {
  if (payload.length !== ENROLL_PAYLOAD_LENGTH || payload[0] !== ENROLL_PAYLOAD_FORMAT) {
    return undefined;
  }
  return payload.slice(1);
}

/** What the server answers an enroll request with (the reply body's `data`). */
export type EnrollAnswer =
  | {
    state: "pending";
    invite: number;
    /** The server's identity pin (base64), when it has one. */
    server_identity?: string;
    /** The server key's certificate by that identity (base64, PROTOCOL.md §14). */
    server_key_cert?: string;
  }
  | {
    state: "enrolled";
    /** The new user's id. */
    user_id: number;
    /** Its name. */
    name: string;
    /** Action ids by name. */
    actions: Record<string, number>;
    /** When the user stops existing (epoch ms). */
    not_after: number;
    /** The server's identity pin (base64), when it has one. */
    server_identity?: string;
    /** The server key's certificate by that identity (base64, PROTOCOL.md §14). */
    server_key_cert?: string;
  };

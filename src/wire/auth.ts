/**
 * User authentication inside a request: HMAC-SHA256 with the user's 32-byte key, or an
 * Ed25519 signature (the server keeps only the public key). Both cover
 * context || enc (top bit cleared) || server public key || inner fields.
 * @module
 */
import { type KeyObject, sign, verify } from "node:crypto";
import { constantTimeEqual } from "../crypto/ct.ts";
import { hmacKey, hmacSha256 } from "../crypto/hkdf.ts";
import { ed25519PrivateKeyObject, ed25519PublicKeyObject } from "../crypto/keys.ts";
import type { AuthKind } from "./types.ts";

/** How a client authenticates: a shared HMAC key or an Ed25519 private seed. */
export type UserAuth =
  | { kind: "hmac"; key: Uint8Array }
  | { kind: "ed25519"; privateKey: Uint8Array };

/** What the server knows of a user (either or both). */
export interface UserVerifier {
  /** The user's 32-byte HMAC key. */
  hmacKey?: Uint8Array;
  /** The user's 32-byte Ed25519 public key. */
  ed25519Public?: Uint8Array;
  /** The HMAC key before a user key rotation, accepted until the client uses the new one. */
  previousHmacKey?: Uint8Array;
}

/** The parts the authenticator covers, in order. */
export type AuthParts = readonly [
  context: Uint8Array,
  enc: Uint8Array,
  server: Uint8Array,
  signed: Uint8Array,
];

function joined(parts: AuthParts): Uint8Array {
  const [a, b, c, d] = parts;
  const out = new Uint8Array(a.length + b.length + c.length + d.length);
  out.set(a, 0);
  out.set(b, a.length);
  out.set(c, a.length + b.length);
  out.set(d, a.length + b.length + c.length);
  return out;
}

const privateCache = new WeakMap<Uint8Array, KeyObject>();
const publicCache = new WeakMap<Uint8Array, KeyObject>();

function cachedPrivate(raw: Uint8Array): KeyObject {
  let k = privateCache.get(raw);
  if (k === undefined) privateCache.set(raw, k = ed25519PrivateKeyObject(raw));
  return k;
}

function cachedPublic(raw: Uint8Array): KeyObject {
  let k = publicCache.get(raw);
  if (k === undefined) publicCache.set(raw, k = ed25519PublicKeyObject(raw));
  return k;
}

/** The authenticator for `parts` (32-byte HMAC or 64-byte signature). */
export function authenticate(auth: UserAuth, parts: AuthParts): Uint8Array {
  if (auth.kind === "hmac") {
    if (auth.key.length !== 32) throw new TypeError("HMAC user key must be 32 bytes");
    return hmacSha256(auth.key, ...parts);
  }
  return new Uint8Array(sign(null, joined(parts), cachedPrivate(auth.privateKey)));
}

/** Checks an authenticator (constant-time for HMAC); never throws. */
export function verifyAuth(
  kind: AuthKind,
  user: UserVerifier,
  parts: AuthParts,
  tag: Uint8Array,
): boolean {
  try {
    if (kind === "hmac") {
      if (user.hmacKey === undefined || user.hmacKey.length !== 32) return false;
      return constantTimeEqual(hmacKey(user.hmacKey).macInto(parts, new Uint8Array(32)), tag);
    }
    if (user.ed25519Public === undefined || user.ed25519Public.length !== 32) return false;
    return verify(null, joined(parts), cachedPublic(user.ed25519Public), tag);
  } catch {
    return false;
  }
}

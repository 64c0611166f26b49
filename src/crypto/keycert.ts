/**
 * Server key certificates: the server's Ed25519 identity key signs one X25519 key with the
 * time it is valid. A client pins the identity (its public key) once; every X25519 key it is
 * then given must carry a certificate that verifies under the pin and covers "now".
 *
 *     cert      = x25519_public (32) ‖ not_before ms (u64) ‖ not_after ms (u64) ‖ sig (64)
 *     sig       = Ed25519(identity, "siglatch v2 server key" ‖ cert[0..48])
 *
 * 112 bytes; base64 in profiles (`server_key_cert`). See docs/PROTOCOL.md §14.
 * @module
 */
import { sign, verify } from "node:crypto";
import { ed25519PrivateKeyObject, ed25519PublicKeyObject } from "./keys.ts";

/** Domain-separation label signed in front of every certificate body. */
export const KEY_CERT_LABEL = "siglatch v2 server key";
/** Length of a certificate. */
export const KEY_CERT_LENGTH = 112;

const LABEL = new TextEncoder().encode(KEY_CERT_LABEL);
const BODY = 48;

/** A verified certificate's contents. */
export interface KeyCert {
  /** The certified X25519 public key. */
  key: Uint8Array;
  /** Valid from (epoch ms). */
  notBefore: number;
  /** Valid until (epoch ms, exclusive). */
  notAfter: number;
}

/** Why a certificate was refused. */
export type KeyCertRefusal = "bad_length" | "bad_signature" | "not_yet_valid" | "expired";

function signed(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(LABEL.length + body.length);
  out.set(LABEL);
  out.set(body, LABEL.length);
  return out;
}

/** Signs `cert.key` for its validity with the identity's 32-byte Ed25519 seed. */
export function signKeyCert(identitySeed: Uint8Array, cert: KeyCert): Uint8Array {
  if (cert.key.length !== 32) throw new Error("key cert: the X25519 key must be 32 bytes");
  if (!(cert.notAfter > cert.notBefore)) {
    throw new Error("key cert: not_after must follow not_before");
  }
  const out = new Uint8Array(KEY_CERT_LENGTH);
  const view = new DataView(out.buffer);
  out.set(cert.key, 0);
  view.setBigUint64(32, BigInt(cert.notBefore));
  view.setBigUint64(40, BigInt(cert.notAfter));
  const sig = sign(null, signed(out.subarray(0, BODY)), ed25519PrivateKeyObject(identitySeed));
  out.set(sig, BODY);
  return out;
}

/**
 * Verifies `cert` under the pinned identity public key at `now`; never throws for any
 * input. The signature is checked before the dates are read.
 */
export function verifyKeyCert(
  identityPublic: Uint8Array,
  cert: Uint8Array,
  now: number,
): { ok: true; cert: KeyCert } | { ok: false; reason: KeyCertRefusal } {
  if (cert.length !== KEY_CERT_LENGTH || identityPublic.length !== 32) {
    return { ok: false, reason: "bad_length" };
  }
  let good = false;
  try {
    good = verify(
      null,
      signed(cert.subarray(0, BODY)),
      ed25519PublicKeyObject(identityPublic),
      cert.subarray(BODY),
    );
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: "bad_signature" };
  const view = new DataView(cert.buffer, cert.byteOffset, cert.byteLength);
  const notBefore = Number(view.getBigUint64(32));
  const notAfter = Number(view.getBigUint64(40));
  if (now < notBefore) return { ok: false, reason: "not_yet_valid" };
  if (now >= notAfter) return { ok: false, reason: "expired" };
  return { ok: true, cert: { key: cert.slice(0, 32), notBefore, notAfter } };
}

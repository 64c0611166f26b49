/**
 * Raw X25519 / Ed25519 keys: generation, conversion to and from node `KeyObject`s and
 * PEM (PKCS#8 for private keys, SPKI for public keys), and the X25519 function.
 *
 * Raw forms are 32 bytes: an X25519 scalar or u-coordinate (RFC 7748), an Ed25519
 * seed or public key (RFC 8032).
 * @module
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { concatBytes, isAllZero } from "./bytes.ts";

/** The server's long-term X25519 key pair, raw. */
export interface ServerKeyPair {
  /** Raw X25519 private scalar (32 bytes). */
  x25519Private: Uint8Array;
  /** Raw X25519 public key (32 bytes). */
  x25519Public: Uint8Array;
}

/** The four kinds of key that {@linkcode pemToRaw} recognises. */
export type RawKeyKind = "x25519-private" | "x25519-public" | "ed25519-private" | "ed25519-public";

// DER prefixes of PKCS#8 / SPKI structures holding a 32-byte key (RFC 8410).
const X25519_PKCS8 = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
]);
const X25519_SPKI = new Uint8Array([
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x03,
  0x21,
  0x00,
]);
const ED25519_PKCS8 = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);
const ED25519_SPKI = new Uint8Array([
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x03,
  0x21,
  0x00,
]);

function need32(raw: Uint8Array, what: string): void {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) {
    throw new TypeError(`${what} must be 32 bytes`);
  }
}

/** A `KeyObject` from 32 raw bytes behind their fixed DER prefix (PKCS#8 or SPKI). */
function keyObject(
  kind: "private" | "public",
  prefix: Uint8Array,
  raw: Uint8Array,
  what: string,
): KeyObject {
  need32(raw, what);
  const key = concatBytes(prefix, raw) as never;
  return kind === "private"
    ? createPrivateKey({ key, format: "der", type: "pkcs8" })
    : createPublicKey({ key, format: "der", type: "spki" });
}

/** Node `KeyObject` of a raw X25519 private key. */
export function x25519PrivateKeyObject(raw: Uint8Array): KeyObject {
  return keyObject("private", X25519_PKCS8, raw, "X25519 private key");
}

/** Node `KeyObject` of a raw X25519 public key. */
export function x25519PublicKeyObject(raw: Uint8Array): KeyObject {
  return keyObject("public", X25519_SPKI, raw, "X25519 public key");
}

/** Node `KeyObject` of a raw Ed25519 private seed. */
export function ed25519PrivateKeyObject(raw: Uint8Array): KeyObject {
  return keyObject("private", ED25519_PKCS8, raw, "Ed25519 private key");
}

/** Node `KeyObject` of a raw Ed25519 public key. */
export function ed25519PublicKeyObject(raw: Uint8Array): KeyObject {
  return keyObject("public", ED25519_SPKI, raw, "Ed25519 public key");
}

/** The raw 32 bytes of an X25519 or Ed25519 `KeyObject` (private: scalar/seed; public: key). */
export function keyObjectToRaw(key: KeyObject): Uint8Array {
  const der = key.type === "private"
    ? key.export({ format: "der", type: "pkcs8" })
    : key.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** The X25519 public key of a raw private scalar. */
export function x25519PublicFromPrivate(raw: Uint8Array): Uint8Array {
  return keyObjectToRaw(createPublicKey(x25519PrivateKeyObject(raw)));
}

/** The Ed25519 public key of a raw seed. */
export function ed25519PublicFromPrivate(raw: Uint8Array): Uint8Array {
  return keyObjectToRaw(createPublicKey(ed25519PrivateKeyObject(raw)));
}

/** A fresh random X25519 key pair (raw). */
export function generateX25519(): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = new Uint8Array(randomBytes(32));
  return { privateKey, publicKey: x25519PublicFromPrivate(privateKey) };
}

/** A fresh random Ed25519 key pair (raw 32-byte seed and public key). */
export function generateEd25519(): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const kp = generateKeyPairSync("ed25519");
  return { privateKey: keyObjectToRaw(kp.privateKey), publicKey: keyObjectToRaw(kp.publicKey) };
}

/** X25519 operations of this thread (a test and `status` read it: sessions cost none). */
export const x25519Stats = { operations: 0 };

/**
 * X25519(private, public) (RFC 7748). Returns `null` for an all-zero result (a
 * low-order public key), which RFC 9180 requires a DHKEM to refuse, or when the
 * runtime refuses the key.
 */
export function x25519(privateKey: KeyObject, publicKey: KeyObject): Uint8Array | null {
  x25519Stats.operations++;
  let dh: Uint8Array;
  try {
    dh = diffieHellman({ privateKey, publicKey });
  } catch {
    return null;
  }
  return isAllZero(dh) ? null : new Uint8Array(dh.buffer, dh.byteOffset, dh.byteLength);
}

function pem(key: KeyObject): string {
  const type = key.type === "private" ? "pkcs8" : "spki";
  return String(key.export({ format: "pem", type }));
}

/** PEM (PKCS#8) of a raw X25519 private key. */
export function x25519PrivateToPem(raw: Uint8Array): string {
  return pem(x25519PrivateKeyObject(raw));
}

/** PEM (SPKI) of a raw X25519 public key. */
export function x25519PublicToPem(raw: Uint8Array): string {
  return pem(x25519PublicKeyObject(raw));
}

/** PEM (PKCS#8) of a raw Ed25519 seed. */
export function ed25519PrivateToPem(raw: Uint8Array): string {
  return pem(ed25519PrivateKeyObject(raw));
}

/** PEM (SPKI) of a raw Ed25519 public key. */
export function ed25519PublicToPem(raw: Uint8Array): string {
  return pem(ed25519PublicKeyObject(raw));
}

/**
 * The kind and raw bytes of a PEM X25519/Ed25519 key (PKCS#8 private or SPKI public).
 * @throws {Error} for anything else (other algorithms, malformed PEM).
 */
export function pemToRaw(text: string): { kind: RawKeyKind; raw: Uint8Array } {
  const isPrivate = /-----BEGIN PRIVATE KEY-----/.test(text);
  const key = isPrivate ? createPrivateKey(text) : createPublicKey(text);
  const type = key.asymmetricKeyType;
  if (type !== "x25519" && type !== "ed25519") {
    throw new Error(`unsupported key type ${type ?? "unknown"} (want X25519 or Ed25519)`);
  }
  const kind = `${type}-${isPrivate ? "private" : "public"}` as RawKeyKind;
  return { kind, raw: keyObjectToRaw(key) };
}

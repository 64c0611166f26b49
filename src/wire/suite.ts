/**
 * Protocol versions and the cryptographic suite each one names. A version is never
 * written in the clear: the server learns it from which version's mac1 key matches.
 * A later version (e.g. an X25519+ML-KEM-768 hybrid) is added as another entry here.
 * v2 (current) adds mac2, the retry id and the allow address; v1 is only recognised.
 * @module
 */
import { CHACHA20_POLY1305 } from "../crypto/aead.ts";
import { utf8 } from "../crypto/bytes.ts";
import { HpkeSuite } from "../crypto/hpke.ts";

/** Secure (sealed) or insecure (signed, plain) packets. */
export type WireMode = "secure" | "insecure";

/** One protocol version. */
export interface WireSuite {
  /** Version number (inner field `version`). */
  readonly version: number;
  /** Human name of the suite. */
  readonly name: string;
  /** HPKE suite used to seal requests (and whose exporter keys replies). */
  readonly hpke: HpkeSuite;
  /** HPKE `info` for requests, per mode. */
  readonly info: Readonly<Record<WireMode, Uint8Array>>;
  /** Label hashed with the server public key into the mac1 key, per mode. */
  readonly mac1Label: Readonly<Record<WireMode, Uint8Array>>;
  /** Context string prefixed to what the user authenticates, per mode. */
  readonly authContext: Readonly<Record<WireMode, Uint8Array>>;
  /** Exporter context prefix of the reply key (followed by the request id). */
  readonly replyLabel: Uint8Array;
  /**
   * Framing: 1 = `enc' | ciphertext | mac1` (in-request cookie); 2 = `enc' | ciphertext |
   * mac1 | mac2`, retry id and allow address in the inner fields.
   */
  readonly framing: 1 | 2;
}

/** v1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305; SHA-256 mac1. */
export const SUITE_V1: WireSuite = Object.freeze({
  version: 1,
  name: "siglatch-v1 X25519-HKDF-SHA256-ChaCha20Poly1305",
  hpke: new HpkeSuite(CHACHA20_POLY1305),
  info: Object.freeze({
    secure: utf8("siglatch v1 request secure"),
    insecure: utf8("siglatch v1 request INSECURE"),
  }),
  mac1Label: Object.freeze({
    secure: utf8("siglatch v1 mac1 secure"),
    insecure: utf8("siglatch v1 mac1 INSECURE"),
  }),
  authContext: Object.freeze({
    secure: utf8("siglatch v1 auth secure"),
    insecure: utf8("siglatch v1 auth INSECURE"),
  }),
  replyLabel: utf8("siglatch v1 reply"),
  framing: 1,
});

/**
 * v2: the v1 suite with mac2 (keyed by a cookie from a cookie reply), a retry id and an
 * allow address in the inner fields. New labels, so no v1 packet is ever taken for v2.
 */
export const SUITE_V2: WireSuite = Object.freeze({
  version: 2,
  name: "siglatch-v2 X25519-HKDF-SHA256-ChaCha20Poly1305",
  hpke: SUITE_V1.hpke,
  info: Object.freeze({
    secure: utf8("siglatch v2 request secure"),
    insecure: utf8("siglatch v2 request INSECURE"),
  }),
  mac1Label: Object.freeze({
    secure: utf8("siglatch v2 mac1 secure"),
    insecure: utf8("siglatch v2 mac1 INSECURE"),
  }),
  authContext: Object.freeze({
    secure: utf8("siglatch v2 auth secure"),
    insecure: utf8("siglatch v2 auth INSECURE"),
  }),
  replyLabel: utf8("siglatch v2 reply"),
  framing: 2,
});

/**
 * Every version the server recognises, newest first. v1 is kept only so an old client can
 * be recognised and told to upgrade; clients send v2.
 */
export const SUITES: readonly WireSuite[] = Object.freeze([SUITE_V2, SUITE_V1]);

/** The suite of a version number, or `undefined`. */
export function suiteOf(version: number): WireSuite | undefined {
  return SUITES.find((s) => s.version === version);
}

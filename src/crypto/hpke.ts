/**
 * HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256, the AEAD
 * chosen per suite, composed on node:crypto (synchronous X25519, HMAC and AEAD).
 *
 * Checked against RFC 9180 Appendix A.1 / A.2 and against `@hpke/core` in tests.
 * PSK and Auth modes are not implemented (siglatch authenticates users inside the
 * sealed body instead).
 * @module
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import type { Aead } from "./aead.ts";
import { concatBytes, u16be, utf8 } from "./bytes.ts";
import { HASH_LEN, hkdfExpand, hkdfExtract } from "./hkdf.ts";
import {
  keyObjectToRaw,
  x25519,
  x25519PrivateKeyObject,
  x25519PublicFromPrivate,
  x25519PublicKeyObject,
} from "./keys.ts";

/** KEM id of DHKEM(X25519, HKDF-SHA256). */
export const KEM_X25519_HKDF_SHA256 = 0x0020;
/** KDF id of HKDF-SHA256. */
export const KDF_HKDF_SHA256 = 0x0001;
/** Length of an X25519 encapsulated key (Nenc) and public key (Npk). */
export const X25519_ENC_LEN = 32;

const HPKE_V1 = utf8("HPKE-v1");
const EMPTY = new Uint8Array(0);
const MODE_BASE = new Uint8Array([0x00]);
const LABEL = {
  eae_prk: utf8("eae_prk"),
  shared_secret: utf8("shared_secret"),
  dkp_prk: utf8("dkp_prk"),
  sk: utf8("sk"),
  psk_id_hash: utf8("psk_id_hash"),
  info_hash: utf8("info_hash"),
  secret: utf8("secret"),
  key: utf8("key"),
  base_nonce: utf8("base_nonce"),
  exp: utf8("exp"),
  sec: utf8("sec"),
};

function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: Uint8Array, ikm: Uint8Array) {
  return hkdfExtract(salt, HPKE_V1, suiteId, label, ikm);
}

function labeledExpand(
  suiteId: Uint8Array,
  prk: Uint8Array,
  label: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  return hkdfExpand(prk, [u16be(length), HPKE_V1, suiteId, label, info], length);
}

/**
 * A receiver's or sender's HPKE context (base mode). Sequence numbers start at 0;
 * the exporter secret is derived only when first needed.
 */
export class HpkeContext {
  /** AEAD key. */
  readonly key: Uint8Array;
  /** AEAD base nonce. */
  readonly baseNonce: Uint8Array;
  #suite: HpkeSuite;
  #secret: Uint8Array;
  #ksc: Uint8Array;
  #exporterSecret?: Uint8Array;
  #seq = 0;

  /** Built by {@linkcode HpkeSuite.keySchedule}. */
  constructor(
    suite: HpkeSuite,
    secret: Uint8Array,
    ksc: Uint8Array,
    key: Uint8Array,
    nonce: Uint8Array,
  ) {
    this.#suite = suite;
    this.#secret = secret;
    this.#ksc = ksc;
    this.key = key;
    this.baseNonce = nonce;
  }

  /** The exporter secret (derived on first use). */
  get exporterSecret(): Uint8Array {
    this.#exporterSecret ??= labeledExpand(
      this.#suite.suiteId,
      this.#secret,
      LABEL.exp,
      this.#ksc,
      HASH_LEN,
    );
    return this.#exporterSecret;
  }

  /** The current sequence number. */
  get seq(): number {
    return this.#seq;
  }

  /** base_nonce XOR I2OSP(seq, Nn). */
  nonceFor(seq: number): Uint8Array {
    const n = this.baseNonce.slice();
    let s = seq;
    for (let i = n.length - 1; i >= 0 && s > 0; i--) {
      n[i] ^= s & 0xff;
      s = Math.floor(s / 256);
    }
    return n;
  }

  /** Seals with the next sequence number. */
  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const ct = this.#suite.aead.seal(this.key, this.nonceFor(this.#seq), aad, plaintext);
    this.#seq++;
    return ct;
  }

  /** Opens with the next sequence number; `null` (sequence unchanged) on failure. */
  open(aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    const pt = this.#suite.aead.open(this.key, this.nonceFor(this.#seq), aad, ciphertext);
    if (pt !== null) this.#seq++;
    return pt;
  }

  /** Export(exporter_context, L) (RFC 9180 §5.3). */
  export(exporterContext: Uint8Array, length: number): Uint8Array {
    return labeledExpand(
      this.#suite.suiteId,
      this.exporterSecret,
      LABEL.sec,
      exporterContext,
      length,
    );
  }
}

/** DHKEM(X25519, HKDF-SHA256) + HKDF-SHA256 + the given AEAD, base mode. */
export class HpkeSuite {
  /** The AEAD. */
  readonly aead: Aead;
  /** "HPKE" || kem_id || kdf_id || aead_id. */
  readonly suiteId: Uint8Array;
  /** "KEM" || kem_id. */
  readonly kemSuiteId: Uint8Array;
  #pskIdHash: Uint8Array;
  #kscCache = new Map<string, Uint8Array>();

  /** A suite over DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256 with `aead`. */
  constructor(aead: Aead) {
    this.aead = aead;
    this.kemSuiteId = concatBytes(utf8("KEM"), u16be(KEM_X25519_HKDF_SHA256));
    this.suiteId = concatBytes(
      utf8("HPKE"),
      u16be(KEM_X25519_HKDF_SHA256),
      u16be(KDF_HKDF_SHA256),
      u16be(aead.id),
    );
    this.#pskIdHash = labeledExtract(this.suiteId, EMPTY, LABEL.psk_id_hash, EMPTY);
  }

  /** DeriveKeyPair(ikm) (RFC 9180 §7.1.3): raw private scalar and public key. */
  deriveKeyPair(ikm: Uint8Array): { privateKey: Uint8Array; publicKey: Uint8Array } {
    const prk = labeledExtract(this.kemSuiteId, EMPTY, LABEL.dkp_prk, ikm);
    const privateKey = labeledExpand(this.kemSuiteId, prk, LABEL.sk, EMPTY, 32);
    return { privateKey, publicKey: x25519PublicFromPrivate(privateKey) };
  }

  #extractAndExpand(dh: Uint8Array, enc: Uint8Array, pkR: Uint8Array): Uint8Array {
    const prk = labeledExtract(this.kemSuiteId, EMPTY, LABEL.eae_prk, dh);
    return labeledExpand(
      this.kemSuiteId,
      prk,
      LABEL.shared_secret,
      concatBytes(enc, pkR),
      HASH_LEN,
    );
  }

  /**
   * Encap(pkR) with a given (or fresh random) ephemeral private key.
   * @throws {Error} when pkR is a low-order point.
   */
  encap(
    pkR: Uint8Array,
    ephemeralPrivate: Uint8Array,
    pkRObject: KeyObject = x25519PublicKeyObject(pkR),
  ): { sharedSecret: Uint8Array; enc: Uint8Array } {
    // One import of the ephemeral key serves both the public key and the DH.
    const skE = x25519PrivateKeyObject(ephemeralPrivate);
    const enc = keyObjectToRaw(createPublicKey(skE));
    const dh = x25519(skE, pkRObject);
    if (dh === null) throw new Error("HPKE encap: invalid recipient public key");
    return { sharedSecret: this.#extractAndExpand(dh, enc, pkR), enc };
  }

  /** Decap(enc, skR); `null` for an invalid enc (low-order point). */
  decap(enc: Uint8Array, skR: KeyObject, pkR: Uint8Array): Uint8Array | null {
    if (enc.length !== X25519_ENC_LEN) return null;
    let pkE: KeyObject;
    try {
      pkE = x25519PublicKeyObject(enc);
    } catch {
      return null;
    }
    const dh = x25519(skR, pkE);
    return dh === null ? null : this.#extractAndExpand(dh, enc, pkR);
  }

  #keyScheduleContext(info: Uint8Array): Uint8Array {
    const k = String.fromCharCode(...info);
    let ksc = this.#kscCache.get(k);
    if (ksc === undefined) {
      const infoHash = labeledExtract(this.suiteId, EMPTY, LABEL.info_hash, info);
      ksc = concatBytes(MODE_BASE, this.#pskIdHash, infoHash);
      if (this.#kscCache.size < 64) this.#kscCache.set(k, ksc);
    }
    return ksc;
  }

  /** KeySchedule for base mode (psk and psk_id empty). */
  keySchedule(sharedSecret: Uint8Array, info: Uint8Array): HpkeContext {
    const ksc = this.#keyScheduleContext(info);
    const secret = labeledExtract(this.suiteId, sharedSecret, LABEL.secret, EMPTY);
    const key = labeledExpand(this.suiteId, secret, LABEL.key, ksc, this.aead.keyLength);
    const nonce = labeledExpand(this.suiteId, secret, LABEL.base_nonce, ksc, this.aead.nonceLength);
    return new HpkeContext(this, secret, ksc, key, nonce);
  }

  /** SetupBaseS: the encapsulated key and the sender's context. */
  setupBaseS(
    pkR: Uint8Array,
    info: Uint8Array,
    ephemeralPrivate: Uint8Array,
    pkRObject?: KeyObject,
  ): { enc: Uint8Array; ctx: HpkeContext } {
    const { sharedSecret, enc } = this.encap(pkR, ephemeralPrivate, pkRObject);
    return { enc, ctx: this.keySchedule(sharedSecret, info) };
  }

  /** SetupBaseR: the receiver's context, or `null` for an invalid enc. */
  setupBaseR(
    enc: Uint8Array,
    skR: KeyObject,
    pkR: Uint8Array,
    info: Uint8Array,
  ): HpkeContext | null {
    const ss = this.decap(enc, skR, pkR);
    return ss === null ? null : this.keySchedule(ss, info);
  }
}

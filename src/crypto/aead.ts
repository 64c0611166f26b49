/**
 * The AEADs HPKE can use here, on node:crypto: AES-128-GCM (0x0001), AES-256-GCM
 * (0x0002), ChaCha20-Poly1305 (0x0003). All have a 12-byte nonce and 16-byte tag.
 * @module
 */
import { createCipheriv, createDecipheriv } from "node:crypto";

/** HPKE AEAD identifiers (RFC 9180 §7.3) supported here. */
export type AeadId = 0x0001 | 0x0002 | 0x0003;

/** One AEAD algorithm. */
export interface Aead {
  /** HPKE aead_id. */
  readonly id: AeadId;
  /** Key length Nk. */
  readonly keyLength: number;
  /** Nonce length Nn. */
  readonly nonceLength: 12;
  /** Tag length Nt. */
  readonly tagLength: 16;
  /** Encrypts `plaintext`; returns ciphertext || tag. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Decrypts ciphertext || tag; `null` when the tag does not verify (never throws). */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
}

type CipherName = "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";

function makeAead(id: AeadId, name: CipherName, keyLength: number): Aead {
  const opts = { authTagLength: 16 } as const;
  return {
    id,
    keyLength,
    nonceLength: 12,
    tagLength: 16,
    seal(key, nonce, aad, plaintext) {
      // deno-lint-ignore no-explicit-any
      const c = createCipheriv(name as any, key, nonce, opts) as any;
      c.setAAD(aad, { plaintextLength: plaintext.length });
      const head = c.update(plaintext) as Uint8Array;
      const tail = c.final() as Uint8Array;
      const tag = c.getAuthTag() as Uint8Array;
      const out = new Uint8Array(head.length + tail.length + 16);
      out.set(head, 0);
      out.set(tail, head.length);
      out.set(tag, head.length + tail.length);
      return out;
    },
    open(key, nonce, aad, sealed) {
      if (sealed.length < 16) return null;
      try {
        // deno-lint-ignore no-explicit-any
        const d = createDecipheriv(name as any, key, nonce, opts) as any;
        const ctLen = sealed.length - 16;
        d.setAuthTag(sealed.subarray(ctLen));
        d.setAAD(aad, { plaintextLength: ctLen });
        const head = d.update(sealed.subarray(0, ctLen)) as Uint8Array;
        const tail = d.final() as Uint8Array;
        if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
        const out = new Uint8Array(head.length + tail.length);
        out.set(head, 0);
        out.set(tail, head.length);
        return out;
      } catch {
        return null;
      }
    },
  };
}

/** AES-128-GCM (HPKE aead_id 0x0001). */
export const AES_128_GCM: Aead = makeAead(0x0001, "aes-128-gcm", 16);
/** AES-256-GCM (HPKE aead_id 0x0002). */
export const AES_256_GCM: Aead = makeAead(0x0002, "aes-256-gcm", 32);
/** ChaCha20-Poly1305 (HPKE aead_id 0x0003). */
export const CHACHA20_POLY1305: Aead = makeAead(0x0003, "chacha20-poly1305", 32);

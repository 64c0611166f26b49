/**
 * The floor under the open path: the raw `node:crypto` primitives one request costs, each
 * measured alone (`deno bench bench/floor_bench.ts`). The pipeline stages in
 * `pipeline_bench.ts` cannot be cheaper than the primitives they are made of:
 *
 * - prefilter (mac1): one SHA-256 over the datagram (from a precomputed hash state);
 * - open: one X25519 (server static × ephemeral), HKDF-SHA256 (a handful of HMACs), one
 *   ChaCha20-Poly1305 open (the v1 suite; AES-256-GCM is shown for comparison);
 * - authenticate: one HMAC-SHA256 over the signed fields.
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
} from "node:crypto";

const garbage256 = new Uint8Array(randomBytes(256));
const garbage1200 = new Uint8Array(randomBytes(1200));
const key32 = new Uint8Array(randomBytes(32));
const base = createHash("sha256").update(key32);

Deno.bench("SHA-256 of 256 B (copy of a keyed state, as mac1)", { group: "hash" }, () => {
  base.copy().update(garbage256).digest();
});
Deno.bench("SHA-256 of 1,200 B (copy of a keyed state, as mac1)", { group: "hash" }, () => {
  base.copy().update(garbage1200).digest();
});
Deno.bench("HMAC-SHA256 of 128 B", { group: "hash" }, () => {
  createHmac("sha256", key32).update(garbage256.subarray(0, 128)).digest();
});

const server = generateKeyPairSync("x25519");
const eph = generateKeyPairSync("x25519");
const ephDer = eph.publicKey.export({ type: "spki", format: "der" });
const ephRaw = new Uint8Array(ephDer.subarray(ephDer.length - 32));
// SPKI prefix of an X25519 public key: what a raw 32-byte key must be wrapped in.
const spkiPrefix = new Uint8Array(ephDer.subarray(0, ephDer.length - 32));

Deno.bench("X25519 shared secret (KeyObjects ready)", { group: "dh" }, () => {
  diffieHellman({ privateKey: server.privateKey, publicKey: eph.publicKey });
});
Deno.bench("X25519 shared secret incl. importing the raw peer key", { group: "dh" }, () => {
  const der = new Uint8Array(spkiPrefix.length + 32);
  der.set(spkiPrefix);
  der.set(ephRaw, spkiPrefix.length);
  const pub = createPublicKey({ key: der as unknown as Buffer, format: "der", type: "spki" });
  diffieHellman({ privateKey: server.privateKey, publicKey: pub });
});
Deno.bench("X25519 key pair generation (client side of a seal)", { group: "dh" }, () => {
  generateKeyPairSync("x25519");
});
const pkcs8 = server.privateKey.export({ type: "pkcs8", format: "der" });
Deno.bench("X25519 private key import (pkcs8, not per datagram)", { group: "dh" }, () => {
  createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
});

const nonce = new Uint8Array(randomBytes(12));
const plain = new Uint8Array(randomBytes(120));
const aad = new Uint8Array(randomBytes(32));
function sealWith(alg: "chacha20-poly1305" | "aes-256-gcm"): Uint8Array {
  // deno-lint-ignore no-explicit-any
  const c = createCipheriv(alg as any, key32, nonce, { authTagLength: 16 }) as any;
  c.setAAD(aad);
  const out = c.update(plain);
  c.final();
  const tag = c.getAuthTag();
  const ct = new Uint8Array(out.length + 16);
  ct.set(out);
  ct.set(tag, out.length);
  return ct;
}
for (const alg of ["chacha20-poly1305", "aes-256-gcm"] as const) {
  const ct = sealWith(alg);
  Deno.bench(`${alg} open of 120 B`, { group: "aead" }, () => {
    // deno-lint-ignore no-explicit-any
    const d = createDecipheriv(alg as any, key32, nonce, { authTagLength: 16 }) as any;
    d.setAAD(aad);
    d.setAuthTag(ct.subarray(ct.length - 16));
    d.update(ct.subarray(0, ct.length - 16));
    d.final();
  });
}

Deno.bench("crypto.getRandomValues 16 B (a nonce)", { group: "misc" }, () => {
  crypto.getRandomValues(new Uint8Array(16));
});

/**
 * SHA-256 / HMAC-SHA256 / HKDF-SHA256 on the request path's sizes, in-house
 * (`src/crypto/hkdf.ts` before issue 12, kept here as `_sha256_ours.ts`) against
 * `@noble/hashes` (audited, pure JS, synchronous), which replaced it:
 * `deno bench bench/hash_bench.ts`. Figures are in docs/BENCHMARKS.md.
 *
 * Sizes: the request authenticator is an HMAC with the user's prepared key over
 * 16 + 32 + 32 + ~60 bytes; the cookie is an HMAC with a fresh 32-byte key over ~50 bytes;
 * HPKE's key schedule is labeled Extract (fresh salt key, ~60 bytes) and Expand (32 bytes,
 * ~80 bytes of info); SHA-256 of ~100 bytes is the long-key / digest case.
 */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { expand, extract } from "@noble/hashes/hkdf.js";
import {
  hkdfExpand as oursExpand,
  hkdfExtract as oursExtract,
  HmacKey as OursHmacKey,
  hmacSha256 as oursHmac,
  sha256 as oursSha256,
} from "../src/crypto/hkdf.ts";

const fill = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed));
const key = fill(32, 1);
const parts = [fill(16, 2), fill(32, 3), fill(32, 4), fill(60, 5)] as const;
const joined = new Uint8Array(140);
joined.set(parts[0], 0);
joined.set(parts[1], 16);
joined.set(parts[2], 48);
joined.set(parts[3], 80);
const cookieMsg = fill(50, 6);
const msg100 = fill(100, 7);
const ikm = fill(60, 8);
const info = fill(80, 9);
const out = new Uint8Array(32);

const oursPrepared = new OursHmacKey(key);
const noblePrepared = hmac.create(nobleSha256, key);

Deno.bench("HMAC 140 B, prepared key: ours", { group: "hmac-prepared", baseline: true }, () => {
  oursPrepared.macInto(parts, out);
});
Deno.bench("HMAC 140 B, prepared key: noble", { group: "hmac-prepared" }, () => {
  const h = noblePrepared.clone();
  for (const p of parts) h.update(p);
  h.digestInto(out);
});

const nobleScratch = hmac.create(nobleSha256, key);
Deno.bench("HMAC 140 B, prepared key: noble, _cloneInto", { group: "hmac-prepared" }, () => {
  const h = noblePrepared._cloneInto(nobleScratch);
  for (const p of parts) h.update(p);
  h.digestInto(out);
});

Deno.bench("HMAC 50 B, fresh 32 B key: ours", { group: "hmac-fresh", baseline: true }, () => {
  oursHmac(key, cookieMsg);
});
Deno.bench("HMAC 50 B, fresh 32 B key: noble", { group: "hmac-fresh" }, () => {
  hmac(nobleSha256, key, cookieMsg);
});

Deno.bench("SHA-256 100 B: ours", { group: "sha256", baseline: true }, () => {
  oursSha256(msg100);
});
Deno.bench("SHA-256 100 B: noble", { group: "sha256" }, () => {
  nobleSha256(msg100);
});

Deno.bench("HKDF extract + expand 32 B: ours", { group: "hkdf", baseline: true }, () => {
  oursExpand(oursExtract(key, ikm), [info], 32);
});
Deno.bench("HKDF extract + expand 32 B: noble", { group: "hkdf" }, () => {
  expand(nobleSha256, extract(nobleSha256, ikm, key), info, 32);
});

// Keep the comparison honest: both sides compute the same bytes.
if (oursPrepared.mac(joined).toHex() !== hmac(nobleSha256, key, joined).toHex()) {
  throw new Error("HMAC mismatch between ours and noble");
}

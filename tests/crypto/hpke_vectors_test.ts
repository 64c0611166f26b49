import assert from "node:assert/strict";
import { type Aead, AES_128_GCM, CHACHA20_POLY1305 } from "../../src/crypto/aead.ts";
import { fromHex, toHex } from "../../src/crypto/bytes.ts";
import { HpkeSuite } from "../../src/crypto/hpke.ts";
import { x25519PrivateKeyObject } from "../../src/crypto/keys.ts";

interface Vector {
  info: string;
  ikmE: string;
  pkEm: string;
  skEm: string;
  ikmR: string;
  pkRm: string;
  skRm: string;
  enc: string;
  shared_secret: string;
  key: string;
  base_nonce: string;
  exporter_secret: string;
  encryptions: { seq: number; pt: string; aad: string; nonce: string; ct: string }[];
  exports: { exporter_context: string; L: number; exported_value: string }[];
}

async function load(name: string): Promise<Vector> {
  return JSON.parse(await Deno.readTextFile(new URL(`../vectors/${name}`, import.meta.url)));
}

function checkVector(v: Vector, aead: Aead): void {
  const suite = new HpkeSuite(aead);
  // DeriveKeyPair
  const e = suite.deriveKeyPair(fromHex(v.ikmE));
  assert.equal(toHex(e.privateKey), v.skEm);
  assert.equal(toHex(e.publicKey), v.pkEm);
  const r = suite.deriveKeyPair(fromHex(v.ikmR));
  assert.equal(toHex(r.privateKey), v.skRm);
  assert.equal(toHex(r.publicKey), v.pkRm);
  // Encap / Decap
  const pkR = fromHex(v.pkRm);
  const { sharedSecret, enc } = suite.encap(pkR, fromHex(v.skEm));
  assert.equal(toHex(enc), v.enc);
  assert.equal(toHex(sharedSecret), v.shared_secret);
  const skR = x25519PrivateKeyObject(fromHex(v.skRm));
  assert.equal(toHex(suite.decap(fromHex(v.enc), skR, pkR)!), v.shared_secret);
  // Key schedule, both sides
  const sender = suite.setupBaseS(pkR, fromHex(v.info), fromHex(v.skEm)).ctx;
  const receiver = suite.setupBaseR(fromHex(v.enc), skR, pkR, fromHex(v.info))!;
  for (const ctx of [sender, receiver]) {
    assert.equal(toHex(ctx.key), v.key);
    assert.equal(toHex(ctx.baseNonce), v.base_nonce);
    assert.equal(toHex(ctx.exporterSecret), v.exporter_secret);
  }
  // Every listed encryption, at its sequence number
  for (const x of v.encryptions) {
    const s = suite.keySchedule(fromHex(v.shared_secret), fromHex(v.info));
    assert.equal(toHex(s.nonceFor(x.seq)), x.nonce);
    const ct = aead.seal(s.key, s.nonceFor(x.seq), fromHex(x.aad), fromHex(x.pt));
    assert.equal(toHex(ct), x.ct, `seq ${x.seq}`);
    const pt = aead.open(s.key, s.nonceFor(x.seq), fromHex(x.aad), fromHex(x.ct));
    assert.equal(toHex(pt!), x.pt);
  }
  // The context's own counter: seq 0, 1, 2 in order
  const s2 = suite.setupBaseS(pkR, fromHex(v.info), fromHex(v.skEm)).ctx;
  const r2 = suite.setupBaseR(fromHex(v.enc), skR, pkR, fromHex(v.info))!;
  for (const x of v.encryptions.filter((x) => x.seq < 3)) {
    const ct = s2.seal(fromHex(x.aad), fromHex(x.pt));
    assert.equal(toHex(ct), x.ct);
    assert.equal(toHex(r2.open(fromHex(x.aad), ct)!), x.pt);
  }
  for (const x of v.exports) {
    assert.equal(toHex(receiver.export(fromHex(x.exporter_context), x.L)), x.exported_value);
    assert.equal(toHex(sender.export(fromHex(x.exporter_context), x.L)), x.exported_value);
  }
}

Deno.test("RFC 9180 A.1.1 (X25519, HKDF-SHA256, AES-128-GCM) base mode", async () => {
  checkVector(await load("hpke_rfc9180_a1.json"), AES_128_GCM);
});

Deno.test("RFC 9180 A.2.1 (X25519, HKDF-SHA256, ChaCha20-Poly1305) base mode", async () => {
  checkVector(await load("hpke_rfc9180_a2.json"), CHACHA20_POLY1305);
});

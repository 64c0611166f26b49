import assert from "node:assert/strict";
import { type Aead, AES_128_GCM, CHACHA20_POLY1305 } from "../../src/crypto/aead.ts";
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
  const e = suite.deriveKeyPair(Uint8Array.fromHex(v.ikmE));
  assert.equal(e.privateKey.toHex(), v.skEm);
  assert.equal(e.publicKey.toHex(), v.pkEm);
  const r = suite.deriveKeyPair(Uint8Array.fromHex(v.ikmR));
  assert.equal(r.privateKey.toHex(), v.skRm);
  assert.equal(r.publicKey.toHex(), v.pkRm);
  // Encap / Decap
  const pkR = Uint8Array.fromHex(v.pkRm);
  const { sharedSecret, enc } = suite.encap(pkR, Uint8Array.fromHex(v.skEm));
  assert.equal(enc.toHex(), v.enc);
  assert.equal(sharedSecret.toHex(), v.shared_secret);
  const skR = x25519PrivateKeyObject(Uint8Array.fromHex(v.skRm));
  assert.equal(suite.decap(Uint8Array.fromHex(v.enc), skR, pkR)!.toHex(), v.shared_secret);
  // Key schedule, both sides
  const sender = suite.setupBaseS(pkR, Uint8Array.fromHex(v.info), Uint8Array.fromHex(v.skEm)).ctx;
  const receiver = suite.setupBaseR(
    Uint8Array.fromHex(v.enc),
    skR,
    pkR,
    Uint8Array.fromHex(v.info),
  )!;
  for (const ctx of [sender, receiver]) {
    assert.equal(ctx.key.toHex(), v.key);
    assert.equal(ctx.baseNonce.toHex(), v.base_nonce);
    assert.equal(ctx.exporterSecret.toHex(), v.exporter_secret);
  }
  // Every listed encryption, at its sequence number
  for (const x of v.encryptions) {
    const s = suite.keySchedule(Uint8Array.fromHex(v.shared_secret), Uint8Array.fromHex(v.info));
    assert.equal(s.nonceFor(x.seq).toHex(), x.nonce);
    const ct = aead.seal(
      s.key,
      s.nonceFor(x.seq),
      Uint8Array.fromHex(x.aad),
      Uint8Array.fromHex(x.pt),
    );
    assert.equal(ct.toHex(), x.ct, `seq ${x.seq}`);
    const pt = aead.open(
      s.key,
      s.nonceFor(x.seq),
      Uint8Array.fromHex(x.aad),
      Uint8Array.fromHex(x.ct),
    );
    assert.equal(pt!.toHex(), x.pt);
  }
  // The context's own counter: seq 0, 1, 2 in order
  const s2 = suite.setupBaseS(pkR, Uint8Array.fromHex(v.info), Uint8Array.fromHex(v.skEm)).ctx;
  const r2 = suite.setupBaseR(Uint8Array.fromHex(v.enc), skR, pkR, Uint8Array.fromHex(v.info))!;
  for (const x of v.encryptions.filter((x) => x.seq < 3)) {
    const ct = s2.seal(Uint8Array.fromHex(x.aad), Uint8Array.fromHex(x.pt));
    assert.equal(ct.toHex(), x.ct);
    assert.equal(r2.open(Uint8Array.fromHex(x.aad), ct)!.toHex(), x.pt);
  }
  for (const x of v.exports) {
    assert.equal(
      receiver.export(Uint8Array.fromHex(x.exporter_context), x.L).toHex(),
      x.exported_value,
    );
    assert.equal(
      sender.export(Uint8Array.fromHex(x.exporter_context), x.L).toHex(),
      x.exported_value,
    );
  }
}

Deno.test("RFC 9180 A.1.1 (X25519, HKDF-SHA256, AES-128-GCM) base mode", async () => {
  checkVector(await load("hpke_rfc9180_a1.json"), AES_128_GCM);
});

Deno.test("RFC 9180 A.2.1 (X25519, HKDF-SHA256, ChaCha20-Poly1305) base mode", async () => {
  checkVector(await load("hpke_rfc9180_a2.json"), CHACHA20_POLY1305);
});

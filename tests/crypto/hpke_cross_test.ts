/**
 * Cross-check of our node:crypto HPKE composition against @hpke/core (Web Crypto),
 * both directions, with a fixed recipient key (and a fixed ephemeral key on our side).
 * @hpke/core ships no ChaCha20-Poly1305 (that is @hpke/chacha20poly1305, not in our
 * imports), so for the v1 suite it gets a small AEAD adapter; its DHKEM, key schedule,
 * nonce sequence and exporter are its own.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv } from "node:crypto";
import {
  type AeadInterface,
  Aes128Gcm,
  Aes256Gcm,
  CipherSuite,
  DhkemX25519HkdfSha256,
  HkdfSha256,
} from "@hpke/core";
import { type Aead, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305 } from "../../src/crypto/aead.ts";
import { utf8 } from "../../src/crypto/bytes.ts";
import { HpkeSuite } from "../../src/crypto/hpke.ts";
import { x25519PrivateKeyObject, x25519PublicFromPrivate } from "../../src/crypto/keys.ts";
import { SUITE_V1 } from "../../src/wire/suite.ts";

const skR = Uint8Array.fromHex("3f".repeat(31) + "41");
const pkR = x25519PublicFromPrivate(skR);
const skE = Uint8Array.fromHex("17".repeat(32));
const info = utf8("siglatch cross-check");
const aad = utf8("aad");
const pt = utf8("the quick brown fox, twice over: the quick brown fox");

function buf(x: ArrayBufferLike | ArrayBufferView): ArrayBuffer {
  const v = ArrayBuffer.isView(x)
    ? new Uint8Array(x.buffer, x.byteOffset, x.byteLength)
    : new Uint8Array(x);
  return v.slice().buffer;
}

/**
 * ChaCha20-Poly1305 for @hpke/core, written here directly on node:crypto (Deno's Web
 * Crypto has no ChaCha20-Poly1305). The AEAD primitive itself is pinned by the RFC 9180
 * A.2 ciphertexts; this test checks the composition around it.
 */
class NodeChaCha implements AeadInterface {
  readonly id = 0x0003 as AeadInterface["id"];
  readonly keySize = 32;
  readonly nonceSize = 12;
  readonly tagSize = 16;
  createEncryptionContext(key: ArrayBufferLike | ArrayBufferView) {
    const k = new Uint8Array(buf(key));
    type B = ArrayBufferLike | ArrayBufferView;
    return {
      seal: (iv: B, data: B, a: B) => {
        const c = createCipheriv("chacha20-poly1305", k, new Uint8Array(buf(iv)), {
          authTagLength: 16,
        });
        const pt = new Uint8Array(buf(data));
        c.setAAD(new Uint8Array(buf(a)), { plaintextLength: pt.length });
        const out = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
        return Promise.resolve(buf(out));
      },
      open: (iv: B, data: B, a: B) => {
        try {
          const d = new Uint8Array(buf(data));
          const dc = createDecipheriv("chacha20-poly1305", k, new Uint8Array(buf(iv)), {
            authTagLength: 16,
          });
          dc.setAAD(new Uint8Array(buf(a)), { plaintextLength: d.length - 16 });
          dc.setAuthTag(d.subarray(d.length - 16));
          const out = Buffer.concat([dc.update(d.subarray(0, d.length - 16)), dc.final()]);
          return Promise.resolve(buf(out));
        } catch (e) {
          return Promise.reject(e);
        }
      },
    };
  }
}

async function crossCheck(ours: Aead, theirs: AeadInterface) {
  const suite = new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: theirs,
  });
  const mine = new HpkeSuite(ours);
  const recipientKey = await suite.kem.importKey("raw", buf(skR), false);
  const recipientPub = await suite.kem.importKey("raw", buf(pkR), true);

  // theirs seals (its own random ephemeral key), ours opens
  const sender = await suite.createSenderContext({
    recipientPublicKey: recipientPub,
    info: buf(info),
  });
  const ct = new Uint8Array(await sender.seal(buf(pt), buf(aad)));
  const ctx = mine.setupBaseR(new Uint8Array(sender.enc), x25519PrivateKeyObject(skR), pkR, info)!;
  assert.ok(ctx, "decap");
  assert.deepEqual(ctx.open(aad, ct), pt);
  assert.equal(
    ctx.export(utf8("exp"), 32).toHex(),
    (new Uint8Array(await sender.export(buf(utf8("exp")), 32))).toHex(),
  );

  // ours seals with a fixed ephemeral key, theirs opens
  const { enc, ctx: sctx } = mine.setupBaseS(pkR, info, skE);
  const ct2 = sctx.seal(aad, pt);
  const ct3 = sctx.seal(aad, pt); // second message: sequence numbers agree
  const recipient = await suite.createRecipientContext({
    recipientKey: { privateKey: recipientKey, publicKey: recipientPub },
    enc: buf(enc),
    info: buf(info),
  });
  assert.deepEqual(new Uint8Array(await recipient.open(buf(ct2), buf(aad))), pt);
  assert.deepEqual(new Uint8Array(await recipient.open(buf(ct3), buf(aad))), pt);
  assert.equal(
    sctx.export(utf8("siglatch v1 reply"), 32).toHex(),
    (new Uint8Array(await recipient.export(buf(utf8("siglatch v1 reply")), 32))).toHex(),
  );
  // a flipped ciphertext bit fails on their side too
  const bad = ct2.slice();
  bad[0] ^= 1;
  const recipient2 = await suite.createRecipientContext({
    recipientKey: { privateKey: recipientKey, publicKey: recipientPub },
    enc: buf(enc),
    info: buf(info),
  });
  await assert.rejects(recipient2.open(buf(bad), buf(aad)));
}

Deno.test("@hpke/core cross-check: v1 suite (X25519, HKDF-SHA256, ChaCha20-Poly1305)", async () => {
  assert.equal(SUITE_V1.hpke.aead.id, 0x0003);
  await crossCheck(CHACHA20_POLY1305, new NodeChaCha());
});

Deno.test("@hpke/core cross-check: AES-256-GCM and AES-128-GCM (AEAD parameterised)", async () => {
  await crossCheck(AES_256_GCM, new Aes256Gcm());
  await crossCheck(AES_128_GCM, new Aes128Gcm());
});

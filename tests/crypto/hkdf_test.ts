import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { utf8 } from "../../src/crypto/bytes.ts";
import {
  hkdfExpand,
  hkdfExtract,
  hmacKey,
  hmacSha256,
  Sha256,
  sha256,
} from "../../src/crypto/hkdf.ts";

// RFC 4231 §4.2–4.8 (HMAC-SHA-256 outputs; case 5 is truncated to 128 bits).
const RFC4231: { key: string; data: Uint8Array; mac: string }[] = [
  {
    key: "0b".repeat(20),
    data: utf8("Hi There"),
    mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  },
  {
    key: utf8("Jefe").toHex(),
    data: utf8("what do ya want for nothing?"),
    mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  },
  {
    key: "aa".repeat(20),
    data: Uint8Array.fromHex("dd".repeat(50)),
    mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
  },
  {
    key: "0102030405060708090a0b0c0d0e0f10111213141516171819",
    data: Uint8Array.fromHex("cd".repeat(50)),
    mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
  },
  {
    key: "0c".repeat(20),
    data: utf8("Test With Truncation"),
    mac: "a3b6167473100ee06e0c796c2955552b",
  },
  {
    key: "aa".repeat(131),
    data: utf8("Test Using Larger Than Block-Size Key - Hash Key First"),
    mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  },
  {
    key: "aa".repeat(131),
    data: utf8(
      "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
    ),
    mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
  },
];

Deno.test("hmacSha256 matches the RFC 4231 test vectors", () => {
  for (const v of RFC4231) {
    const mac = hmacSha256(Uint8Array.fromHex(v.key), v.data).toHex();
    assert.equal(mac.slice(0, v.mac.length), v.mac);
    assert.equal(
      hmacKey(Uint8Array.fromHex(v.key)).mac(v.data).toHex().slice(0, v.mac.length),
      v.mac,
    );
  }
});

Deno.test("HKDF matches RFC 5869 test cases 1 and 3", () => {
  const prk1 = hkdfExtract(
    Uint8Array.fromHex("000102030405060708090a0b0c"),
    Uint8Array.fromHex("0b".repeat(22)),
  );
  assert.equal(prk1.toHex(), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  assert.equal(
    hkdfExpand(prk1, [Uint8Array.fromHex("f0f1f2f3f4f5f6f7f8f9")], 42).toHex(),
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  );
  const prk3 = hkdfExtract(new Uint8Array(0), Uint8Array.fromHex("0b".repeat(22)));
  assert.equal(prk3.toHex(), "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
  assert.equal(
    hkdfExpand(prk3, [], 42).toHex(),
    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
  );
});

Deno.test("SHA-256 and HMAC agree with node:crypto for every length 0..300, split anywhere", () => {
  const data = new Uint8Array(randomBytes(300));
  const h = new Sha256();
  for (let n = 0; n <= 300; n++) {
    const msg = data.subarray(0, n);
    const want = createHash("sha256").update(msg).digest().toHex();
    assert.equal(sha256(msg).toHex(), want);
    const cut = (n * 7) % (n + 1);
    h.reset().update(msg.subarray(0, cut)).update(msg.subarray(cut));
    assert.equal(h.copy().digest().toHex(), want);
    assert.equal(h.digest().toHex(), want);
    const key = data.subarray(n % 100, n % 100 + (n % 90));
    assert.equal(
      hmacSha256(key, msg.subarray(0, cut), msg.subarray(cut)).toHex(),
      createHmac("sha256", key).update(msg).digest().toHex(),
    );
  }
});

import assert from "node:assert/strict";
import { constantTimeEqual } from "../../src/crypto/ct.ts";
import {
  ed25519PrivateToPem,
  ed25519PublicFromPrivate,
  ed25519PublicToPem,
  generateEd25519,
  generateX25519,
  keyObjectToRaw,
  pemToRaw,
  x25519,
  x25519PrivateKeyObject,
  x25519PrivateToPem,
  x25519PublicFromPrivate,
  x25519PublicKeyObject,
  x25519PublicToPem,
} from "../../src/crypto/keys.ts";

Deno.test("X25519: RFC 7748 §6.1 Alice/Bob public keys and shared secret", () => {
  const a = Uint8Array.fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const b = Uint8Array.fromHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  assert.equal(
    x25519PublicFromPrivate(a).toHex(),
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  );
  assert.equal(
    x25519PublicFromPrivate(b).toHex(),
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  );
  const k = x25519(x25519PrivateKeyObject(a), x25519PublicKeyObject(x25519PublicFromPrivate(b)));
  assert.equal(k!.toHex(), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
});

Deno.test("X25519 with a low-order public key yields null (all-zero secret refused)", () => {
  const { privateKey } = generateX25519();
  assert.equal(
    x25519(x25519PrivateKeyObject(privateKey), x25519PublicKeyObject(new Uint8Array(32))),
    null,
  );
  const one = new Uint8Array(32);
  one[0] = 1;
  assert.equal(x25519(x25519PrivateKeyObject(privateKey), x25519PublicKeyObject(one)), null);
});

Deno.test("Ed25519: RFC 8032 test 1 public key from seed", () => {
  const seed = Uint8Array.fromHex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  );
  assert.equal(
    ed25519PublicFromPrivate(seed).toHex(),
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  );
});

Deno.test("PEM round trips for all four key kinds", () => {
  const x = generateX25519();
  const e = generateEd25519();
  assert.deepEqual(pemToRaw(x25519PrivateToPem(x.privateKey)), {
    kind: "x25519-private",
    raw: x.privateKey,
  });
  assert.deepEqual(pemToRaw(x25519PublicToPem(x.publicKey)), {
    kind: "x25519-public",
    raw: x.publicKey,
  });
  assert.deepEqual(pemToRaw(ed25519PrivateToPem(e.privateKey)), {
    kind: "ed25519-private",
    raw: e.privateKey,
  });
  assert.deepEqual(pemToRaw(ed25519PublicToPem(e.publicKey)), {
    kind: "ed25519-public",
    raw: e.publicKey,
  });
  assert.match(x25519PrivateToPem(x.privateKey), /^-----BEGIN PRIVATE KEY-----/);
  assert.match(ed25519PublicToPem(e.publicKey), /^-----BEGIN PUBLIC KEY-----/);
  assert.deepEqual(keyObjectToRaw(x25519PublicKeyObject(x.publicKey)), x.publicKey);
  assert.throws(() => pemToRaw("not a key"));
  assert.throws(() => x25519PrivateKeyObject(new Uint8Array(31)), TypeError);
});

Deno.test("constantTimeEqual", () => {
  assert.ok(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  assert.ok(!constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  assert.ok(!constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])));
  assert.ok(constantTimeEqual(new Uint8Array(), new Uint8Array()));
});

/**
 * Server identity: the key certificate of docs/PROTOCOL.md §14 (vector re-derived with
 * node:crypto alone), its refusals, and profiles that pin the identity end to end.
 */
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { parse, stringify } from "yaml";
import { signKeyCert, verifyKeyCert } from "../../src/crypto/keycert.ts";
import { makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";

const V = JSON.parse(
  await Deno.readTextFile(new URL("../vectors/keycert_v2.json", import.meta.url)),
);

Deno.test("key cert: the vector is reproduced and verifies with node:crypto alone", () => {
  const seed = Uint8Array.fromHex(V.identity_seed);
  const cert = signKeyCert(seed, {
    key: Uint8Array.fromHex(V.x25519_public),
    notBefore: V.not_before_ms,
    notAfter: V.not_after_ms,
  });
  assert.equal(cert.toHex(), V.cert);
  // Independently: label ‖ first 48 bytes, Ed25519 under the identity's SPKI.
  const spki = Uint8Array.fromHex("302a300506032b6570032100" + V.identity_public);
  const pub = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  const body = Buffer.concat([Buffer.from(V.label), Buffer.from(cert.subarray(0, 48))]);
  assert.ok(verify(null, body, pub, cert.subarray(48)));
  assert.equal(cert.subarray(0, 32).toHex(), V.x25519_public);
  const dv = new DataView(cert.buffer, cert.byteOffset);
  assert.equal(Number(dv.getBigUint64(32)), V.not_before_ms);
  assert.equal(Number(dv.getBigUint64(40)), V.not_after_ms);
});

Deno.test("key cert: refused when any byte changes, under another identity, or outside its time", () => {
  const idPub = Uint8Array.fromHex(V.identity_public);
  const cert = Uint8Array.fromHex(V.cert);
  const mid = (V.not_before_ms + V.not_after_ms) / 2;
  assert.ok(verifyKeyCert(idPub, cert, mid).ok);
  for (let i = 0; i < cert.length; i++) {
    const bad = cert.slice();
    bad[i] ^= 0x01;
    const r = verifyKeyCert(idPub, bad, mid);
    assert.ok(!r.ok && r.reason === "bad_signature", `byte ${i}`);
  }
  const other = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!;
  const otherPub = Uint8Array.fromBase64(other.replace(/-/g, "+").replace(/_/g, "/"));
  assert.deepEqual(verifyKeyCert(otherPub, cert, mid), { ok: false, reason: "bad_signature" });
  assert.deepEqual(verifyKeyCert(idPub, cert, V.not_before_ms - 1), {
    ok: false,
    reason: "not_yet_valid",
  });
  assert.deepEqual(verifyKeyCert(idPub, cert, V.not_after_ms), { ok: false, reason: "expired" });
  assert.deepEqual(verifyKeyCert(idPub, cert.subarray(1), mid), {
    ok: false,
    reason: "bad_length",
  });
});

Deno.test("server identity: keygen cert pins the identity; the client refuses a key the identity did not sign", async () => {
  const fx = await makeFixture();
  try {
    const id = generateKeyPairSync("ed25519");
    await Deno.writeTextFile(
      `${fx.dir}/identity.pem`,
      id.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      { mode: 0o600 },
    );
    const doc = parse(await Deno.readTextFile(fx.config));
    doc.servers[0].identity_key_file = "identity.pem";
    await Deno.writeTextFile(fx.config, stringify(doc));
    const c = await runCli(["keygen", "cert", "--config", fx.config, "--valid", "1h", "--json"]);
    assert.equal(c.code, 0, c.stderr);
    const cert = JSON.parse(c.stdout);
    assert.equal(cert.server_public_key, fx.serverPublic.toBase64());

    const profile = parse(await Deno.readTextFile(fx.profile));
    const write = (extra: Record<string, unknown>) =>
      Deno.writeTextFile(fx.profile, stringify({ ...profile, ...extra }));
    const d = await startDaemon(fx.config);
    try {
      await write({ server_identity: cert.server_identity, server_key_cert: cert.server_key_cert });
      const ok = await runCli(["send", "--profile", fx.profile, "ping"]);
      assert.equal(ok.code, 0, ok.stderr);

      // An attacker's key in the profile, with the real certificate: refused before sending.
      const evil = generateKeyPairSync("x25519").publicKey.export({ format: "der", type: "spki" });
      await write({
        server_public_key: new Uint8Array(evil.subarray(evil.length - 32)).toBase64(),
        server_identity: cert.server_identity,
        server_key_cert: cert.server_key_cert,
      });
      const swapped = await runCli(["send", "--profile", fx.profile, "ping"]);
      assert.notEqual(swapped.code, 0);
      assert.match(swapped.stderr, /certifies another key/);

      // A certificate signed by another identity than the pinned one.
      const other = generateKeyPairSync("ed25519").publicKey.export({
        format: "der",
        type: "spki",
      });
      await write({
        server_identity: new Uint8Array(other.subarray(other.length - 32)).toBase64(),
        server_key_cert: cert.server_key_cert,
      });
      const forged = await runCli(["send", "--profile", fx.profile, "ping"]);
      assert.notEqual(forged.code, 0);
      assert.match(forged.stderr, /refused \(bad signature\)/);

      // Pinned but no certificate.
      await write({ server_identity: cert.server_identity });
      const missing = await runCli(["send", "--profile", fx.profile, "ping"]);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /server_key_cert: missing/);
    } finally {
      await d.stop();
    }
  } finally {
    await fx.cleanup();
  }
});

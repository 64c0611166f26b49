/**
 * The server identity handed out by the daemon: an enrolled profile pins the identity and
 * carries the key's certificate; after a rotation the notice carries a certificate for the
 * new key, which the identity-pinned profile verifies before it rewrites itself. A notice
 * the pin does not vouch for is refused.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { ed25519PrivateToPem, generateEd25519, generateX25519 } from "../../src/crypto/keys.ts";
import { signKeyCert } from "../../src/crypto/keycert.ts";
import { applyKeyNotice } from "../../src/client/key_notice.ts";
import { loadProfile } from "../../src/client/profile.ts";
import { makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { createInvite } from "../_helpers/invite.ts";

type ProfileYaml = {
  server_public_key: string;
  server_identity?: string;
  server_key_cert?: string;
};

async function readProfile(path: string): Promise<ProfileYaml> {
  return parse(await Deno.readTextFile(path)) as ProfileYaml;
}

Deno.test("identity: enroll pins the identity; a rotation notice carries a certificate the client verifies", async () => {
  const fx = await makeFixture({ server: { identity_key_file: "identity.pem" } });
  const id = generateEd25519();
  await Deno.writeTextFile(`${fx.dir}/identity.pem`, ed25519PrivateToPem(id.privateKey), {
    mode: 0o600,
  });
  const d = await startDaemon(fx.config);
  try {
    const invite = await createInvite(fx.config, "guest3", ["--expires", "1h"]);
    const out = `${fx.dir}/guest3.yaml`;
    const enrolled = await runCli(["enroll", invite, "--out", out]);
    assert.equal(enrolled.code, 0, enrolled.stderr);
    const before = await readProfile(out);
    assert.equal(before.server_identity, id.publicKey.toBase64(), "the profile pins the identity");
    assert.ok(before.server_key_cert);
    assert.equal((await runCli(["send", "--profile", out, "ping"])).code, 0);

    const rot = await runCli(["admin", "--config", fx.config, "rotate", "server"]);
    assert.equal(rot.code, 0, rot.stderr);
    const r = await runCli(["send", "--profile", out, "ping"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /server key rotated: .*guest3\.yaml now has/);
    const after = await readProfile(out);
    assert.notEqual(after.server_public_key, before.server_public_key);
    assert.notEqual(after.server_key_cert, before.server_key_cert, "a certificate for the new key");
    assert.equal(after.server_identity, before.server_identity);
    const again = await runCli(["send", "--profile", out, "ping"]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /rotated/);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("identity: a pinned profile refuses a notice without a certificate or signed by another identity", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pin = generateEd25519();
    const other = generateEd25519();
    const oldKey = generateX25519().publicKey;
    const newKey = generateX25519().publicKey;
    const now = Date.now();
    const cert = (seed: Uint8Array, key: Uint8Array) =>
      signKeyCert(seed, { key, notBefore: now - 1000, notAfter: now + 60_000 }).toBase64();
    const path = `${dir}/p.yaml`;
    await Deno.writeTextFile(
      path,
      `host: 127.0.0.1\nport: 1\nserver_public_key: ${oldKey.toBase64()}\n` +
        `server_identity: ${pin.publicKey.toBase64()}\n` +
        `server_key_cert: ${cert(pin.privateKey, oldKey)}\nuser_id: 1\nhmac_key_file: k\n`,
      { mode: 0o600 },
    );
    const p = await loadProfile(path);
    const pub = newKey.toBase64();
    const none = await applyKeyNotice(p, oldKey, { pub });
    assert.equal(none?.applied, false);
    const forged = await applyKeyNotice(p, oldKey, { pub, cert: cert(other.privateKey, newKey) });
    assert.deepEqual(forged, {
      applied: false,
      reason: "the new key's certificate: bad_signature",
    });
    const wrongKey = await applyKeyNotice(p, oldKey, { pub, cert: cert(pin.privateKey, oldKey) });
    assert.equal(wrongKey?.applied, false);
    assert.equal((await readProfile(path)).server_public_key, oldKey.toBase64(), "untouched");
    await assert.rejects(Deno.stat(`${path}.bak`), Deno.errors.NotFound);
    const good = await applyKeyNotice(p, oldKey, { pub, cert: cert(pin.privateKey, newKey) });
    assert.equal(good?.applied, true);
    assert.equal((await readProfile(path)).server_public_key, pub);
    assert.equal((await readProfile(`${path}.bak`)).server_public_key, oldKey.toBase64());
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

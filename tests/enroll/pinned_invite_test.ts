/**
 * Invites that pin the server identity (docs/PROTOCOL.md §15, format 2): a server with
 * `identity_key_file` puts its pin in the invite; enroll then takes the server's key only
 * with a certificate by that identity, from the first answer, and writes the invite's pin
 * into the profile. A server whose key the pinned identity did not certify (another
 * identity, or none) is refused and nothing is written. Real daemons over loopback UDP.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { decodeInvite, encodeInvite } from "../../src/enroll/invite.ts";
import { ed25519PrivateToPem, generateEd25519 } from "../../src/crypto/keys.ts";
import { makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { createInvite } from "../_helpers/invite.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("pinned invite: carries the identity; enroll verifies it, refuses a key another identity (or none) vouches for", async () => {
  const fx = await makeFixture({ server: { identity_key_file: "identity.pem" } });
  const id = generateEd25519();
  await Deno.writeTextFile(`${fx.dir}/identity.pem`, ed25519PrivateToPem(id.privateKey), {
    mode: 0o600,
  });
  const plain = await makeFixture(); // a server without identity
  const d = await startDaemon(fx.config);
  const d2 = await startDaemon(plain.config);
  try {
    // The invite pins the identity, and stays one short line.
    const text = await createInvite(fx.config, "guest1", ["--expires", "1h"]);
    const inv = decodeInvite(text);
    assert.deepEqual(inv.identity, id.publicKey);
    assert.ok(text.length < 200, `short: ${text.length} characters`);
    const ok = await runCli(["enroll", text, "--out", `${fx.dir}/guest1.yaml`]);
    assert.equal(ok.code, 0, ok.stderr);
    const profile = parse(await Deno.readTextFile(`${fx.dir}/guest1.yaml`)) as Record<
      string,
      string
    >;
    assert.equal(profile.server_identity, id.publicKey.toBase64());
    assert.equal((await runCli(["send", "--profile", `${fx.dir}/guest1.yaml`, "ping"])).code, 0);

    // The same server, an invite pinning another identity: the server's certificate is
    // not by that identity. Refused; no profile, no key file.
    const other = generateEd25519().publicKey;
    const forged = encodeInvite({
      ...decodeInvite(await createInvite(fx.config, "guest2", ["--expires", "1h"])),
      identity: other,
    });
    const bad = await runCli(["enroll", forged, "--out", `${fx.dir}/guest2.yaml`]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /the server names another identity than the invite.s pin/);
    assert.equal(await exists(`${fx.dir}/guest2.yaml`), false);
    assert.equal(await exists(`${fx.dir}/guest2.ed25519.pem`), false);

    // A server without identity makes unpinned invites; pinned by hand, it has no
    // certificate to show: refused.
    const unpinned = await createInvite(plain.config, "guest3", ["--expires", "1h"]);
    assert.equal(decodeInvite(unpinned).identity, undefined);
    const pinned = encodeInvite({ ...decodeInvite(unpinned), identity: id.publicKey });
    const none = await runCli(["enroll", pinned, "--out", `${plain.dir}/guest3.yaml`]);
    assert.notEqual(none.code, 0);
    assert.match(
      none.stderr,
      /the invite pins the server identity, the server sent no certificate/,
    );
    assert.equal(await exists(`${plain.dir}/guest3.yaml`), false);
  } finally {
    await d.stop();
    await d2.stop();
    await fx.cleanup();
    await plain.cleanup();
  }
});

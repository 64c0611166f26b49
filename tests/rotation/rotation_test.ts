/**
 * Server key rotation through a real daemon (privilege separation when root) over loopback
 * UDP: `admin rotate server`, then an old profile works with no manual step and ends up
 * with the new key (a backup kept); a restart in the middle of the grace period keeps both
 * keys; after the grace period the old key gets silence; `keys.rotate_every` rotates alone.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { clientCopy } from "./_client_copy.ts";

async function profileKey(path: string): Promise<string> {
  return (parse(await Deno.readTextFile(path)) as { server_public_key: string }).server_public_key;
}

async function send(profile: string) {
  return await runCli(["send", "--profile", profile, "ping"]);
}

Deno.test("rotation: admin rotate server; an old profile keeps working and learns the new key; restart mid-rotation", async () => {
  const fx = await makeFixture({ top: { keys: { rotation_grace: "1h" } } });
  let d = await startDaemon(fx.config);
  try {
    const oldKey = await profileKey(fx.profile);
    assert.equal((await send(fx.profile)).code, 0);
    const rot = await runCli(["admin", "--config", fx.config, "rotate", "server"]);
    assert.equal(rot.code, 0, rot.stderr);
    assert.match(rot.stdout, /main: key generation 1, public key /);
    const newKey = rot.stdout.match(/public key (\S+)/)![1];
    assert.notEqual(newKey, oldKey);

    // Keep a copy of the old profile for after the restart.
    await Deno.copyFile(fx.profile, `${fx.dir}/old.yaml`);

    // The old profile: answered, and rewritten with the new key (backup kept), no manual step.
    const first = await send(fx.profile);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /server key rotated: .*alice\.yaml now has/);
    assert.equal(await profileKey(fx.profile), newKey);
    assert.equal(await profileKey(`${fx.profile}.bak`), oldKey);
    assert.equal(
      (await Deno.stat(fx.profile)).mode! & 0o777,
      (await Deno.stat(`${fx.dir}/old.yaml`)).mode! & 0o777,
    );
    // With the new key: no notice any more.
    const second = await send(fx.profile);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stderr, /rotated/);

    // Restart in the middle of the grace period: the generation and both keys survive.
    assert.equal(await d.stop(), 0);
    d = await startDaemon(fx.config);
    const renewed = await send(fx.profile);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.doesNotMatch(renewed.stderr, /rotated/, "the new key is still the current one");
    const old = await send(`${fx.dir}/old.yaml`);
    assert.equal(old.code, 0, old.stderr);
    assert.match(old.stderr, /server key rotated/);
    assert.equal(await profileKey(`${fx.dir}/old.yaml`), newKey);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("rotation: after keys.rotation_grace the old key gets silence", async () => {
  const fx = await makeFixture({ top: { keys: { rotation_grace: "1s" } } });
  const d = await startDaemon(fx.config);
  try {
    await Deno.copyFile(fx.profile, `${fx.dir}/old.yaml`);
    const rot = await runCli(["admin", "--config", fx.config, "rotate", "server", "main"]);
    assert.equal(rot.code, 0, rot.stderr);
    await d.waitFor(/key generation 1, previous retired/, 15_000);
    const old = await send(`${fx.dir}/old.yaml`);
    assert.notEqual(old.code, 0, "the retired key gets no answer");
    assert.equal(await profileKey(`${fx.dir}/old.yaml`), await profileKey(fx.profile));
    assert.match(d.logs(), /bad_mac1/);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("rotation: keys.rotate_every rotates by itself, once per period", async () => {
  const fx = await makeFixture({ top: { keys: { rotate_every: "5s" } } });
  const d = await startDaemon(fx.config);
  try {
    await d.waitFor(/key generation 1, previous accepted until/, 15_000);
    const first = await send(fx.profile);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /server key rotated/);
    const gen1 = await profileKey(fx.profile);
    // The next period: the profile holds the previous key (accepted for the default 7 days)
    // and follows once more.
    await d.waitFor(/key generation 2, previous accepted until/, 15_000);
    const second = await send(fx.profile);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /server key rotated/);
    assert.notEqual(await profileKey(fx.profile), gen1);
    assert.equal((d.logs().match(/key generation 1,/g) ?? []).length, 1, "one rotation per period");
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("rotation: admin rotate user; the next request receives the new key, the old one ends when the new one is used; restart mid-rotation", async () => {
  const fx = await makeFixture();
  const { client, profile, keyFile } = await clientCopy(fx);
  let d = await startDaemon(fx.config);
  try {
    const key0 = await Deno.readTextFile(keyFile);
    assert.equal((await send(profile)).code, 0);
    const rot = await runCli(["admin", "--config", fx.config, "rotate", "user", "alice"]);
    assert.equal(rot.code, 0, rot.stderr);
    assert.match(rot.stdout, /user alice: new key made/);

    const first = await send(profile);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /user key rotated: .*alice\.hmac holds the new key/);
    const key1 = await Deno.readTextFile(keyFile);
    assert.notEqual(key1, key0);
    assert.equal(await Deno.readTextFile(`${keyFile}.bak`), key0);
    assert.equal((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
    // The new key confirms the rotation: no notice, and the old key is refused from now on.
    const second = await send(profile);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stderr, /rotated/);
    await Deno.mkdir(`${client}/old`);
    await Deno.writeTextFile(`${client}/old/alice.hmac`, key0, { mode: 0o600 });
    await Deno.copyFile(profile, `${client}/old/alice.yaml`);
    const stale = await send(`${client}/old/alice.yaml`);
    assert.notEqual(stale.code, 0, "the confirmed rotation retired the old key");

    // Rotate again and restart before the client talks: the pending rotation survives.
    const rot2 = await runCli(["admin", "--config", fx.config, "rotate", "user", "alice"]);
    assert.equal(rot2.code, 0, rot2.stderr);
    assert.equal(await d.stop(), 0);
    d = await startDaemon(fx.config);
    const third = await send(profile);
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stderr, /user key rotated/);
    assert.notEqual(await Deno.readTextFile(keyFile), key1);
    const fourth = await send(profile);
    assert.equal(fourth.code, 0, fourth.stderr);
    assert.doesNotMatch(fourth.stderr, /rotated/);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

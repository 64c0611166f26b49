/**
 * Invites and enrollment through a real daemon (privilege separation when root) over
 * loopback UDP, driven by the real CLI: invite → enroll → use → second use of the invite
 * refused → expiry removes the user; and the approval flow.
 */
import assert from "node:assert/strict";
import { loadProfile } from "../../src/client/profile.ts";
import { loadProfileKeys } from "../../src/client/keys.ts";
import { sendRequest } from "../../src/client/send.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";
import { makeFixture, runCli, spawnCli, startDaemon } from "../_helpers/daemon.ts";
import { createApprovalInvite, createInvite } from "../_helpers/invite.ts";

async function ping(profilePath: string) {
  const p = await loadProfile(profilePath);
  const keys = await loadProfileKeys(p);
  return await sendRequest({
    host: p.host,
    port: p.port,
    serverPublic: keys.serverPublic,
    userId: p.user_id,
    auth: keys.auth,
    actionId: p.actions.ping,
    wait: true,
    timeoutMs: 1000,
    retries: 0,
  });
}

async function usersList(config: string): Promise<{ name: string; kind: string; id: number }[]> {
  const r = await runCli(["users", "list", "--config", config, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

Deno.test("enroll: invite → enroll → use → second enroll refused → expiry removes the user", async () => {
  const fx = await makeFixture();
  const d = await startDaemon(fx.config);
  try {
    const invite = await createInvite(fx.config, "guest1", ["--expires", "6s", "--uses", "1"]);
    assert.match(invite, /^sli1\.[A-Za-z0-9_-]+$/);

    const out = `${fx.dir}/guest1.yaml`;
    const enrolled = await runCli(["enroll", invite, "--out", out]);
    assert.equal(enrolled.code, 0, enrolled.stderr);
    assert.match(enrolled.stdout, /enrolled as guest1/);
    assert.equal((await Deno.stat(out)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${fx.dir}/guest1.ed25519.pem`)).mode! & 0o777, 0o600);
    const profileText = await Deno.readTextFile(out);
    assert.doesNotMatch(profileText, /hmac/, "the profile holds no shared secret");

    // The enrolled user works, and --uses 1 is its max_uses.
    const first = await ping(out);
    assert.equal(first.status, ReplyStatus.Ok, JSON.stringify(first.body));
    const second = await ping(out);
    assert.equal(second.status, ReplyStatus.Denied);
    assert.equal(second.body?.reason, "max_uses_reached");

    // The invite works once: another enrollment (a new key) with it is refused.
    const again = await runCli(["enroll", invite, "--out", `${fx.dir}/guest1b.yaml`]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refused: invite_used/);

    const listed = await usersList(fx.config);
    assert.deepEqual(listed.map((u) => [u.name, u.kind]), [["guest1", "enrolled"]]);
    const shown = await runCli(["users", "show", "guest1", "--config", fx.config]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /guest1/);

    // Expiry: the user disappears by itself (from the list and from the daemon's table).
    while ((await usersList(fx.config)).length > 0) await new Promise((r) => setTimeout(r, 250));
    const after = await ping(out);
    assert.equal(after.answered, false, "an expired user gets silence");
    assert.match(d.logs(), /enrolled guest1 as user/);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("enroll: --approve parks the enrollment as pending until admin approve; revoke and extend", async () => {
  const fx = await makeFixture();
  const d = await startDaemon(fx.config);
  try {
    const { invite, id } = await createApprovalInvite(fx.config, "guest2", ["--expires", "10m"]);
    const out = `${fx.dir}/guest2.yaml`;
    const child = spawnCli(["enroll", invite, "--out", out, "--poll", "200ms"]);
    const done = child.output();
    // The enrollment is pending: listed as such, and no profile yet.
    for (;;) {
      const list = await usersList(fx.config);
      if (list.some((u) => u.name === "guest2" && u.kind === "invite (pending)")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
    const approved = await runCli(["admin", "--config", fx.config, "approve", String(id)]);
    assert.equal(approved.code, 0, approved.stderr);
    const res = await done;
    const stderr = new TextDecoder().decode(res.stderr);
    assert.equal(res.code, 0, stderr);
    assert.match(stderr, new RegExp(`pending: .*approve ${id}`));
    assert.equal((await ping(out)).status, ReplyStatus.Ok);

    const ext = await runCli(["users", "extend", "guest2", "--for", "1h", "--config", fx.config]);
    assert.equal(ext.code, 0, ext.stderr);
    assert.match(ext.stdout, /guest2 now expires at/);
    const rev = await runCli(["users", "revoke", "guest2", "--config", fx.config]);
    assert.equal(rev.code, 0, rev.stderr);
    assert.deepEqual(await usersList(fx.config), []);
    assert.equal((await ping(out)).answered, false, "a revoked user gets silence");
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

/**
 * `siglatch send` on first contact (no cookie): the first datagram goes twice and the daemon
 * drops the copy before opening it (`drop_copy`, one open, one reply); `--single` sends one.
 */
import assert from "node:assert/strict";
import { makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { AdminClient } from "../../src/client/admin/client.ts";

Deno.test("send: the first contact's copy is dropped before opening; --single sends no copy", async () => {
  const fx = await makeFixture();
  const d = await startDaemon(fx.config);
  const admin = await AdminClient.connect(`${fx.dir}/run/admin.sock`);
  const counters = async () => {
    const r = await admin.request("status", {}, 15_000);
    if (!r.ok) throw new Error(r.error);
    return (r.result as { counters: Record<string, number> }).counters;
  };
  try {
    const first = await runCli(["send", "-p", fx.profile, "ping", "--timeout", "5s"]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /pong/);
    let c = await counters();
    assert.equal(c.drop_copy, 1, JSON.stringify(c));
    assert.equal(c.accepted, 1);

    const single = await runCli(["send", "-p", fx.profile, "ping", "--single", "--timeout", "5s"]);
    assert.equal(single.code, 0, single.stderr);
    c = await counters();
    assert.equal(c.drop_copy, 1, "no copy with --single");
    assert.equal(c.accepted, 2);
    assert.equal(c.drop_replay ?? 0, 0, "the copy never reached the replay guard");
  } finally {
    admin.close();
    await d.stop();
    await fx.cleanup();
  }
});

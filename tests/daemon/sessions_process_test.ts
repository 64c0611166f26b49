/**
 * Sessions against a real daemon process (privilege separation when root, the default open
 * workers): what `status` counts is what the whole process did, workers included.
 */
import assert from "node:assert/strict";
import { aliceOptions, makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { ClientSession } from "../../src/client/session.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";

/** The daemon's `status` as JSON. */
async function status(config: string): Promise<Record<string, unknown>> {
  const r = await runCli(["admin", "--config", config, "--json", "status"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

Deno.test("sessions (daemon process, default open workers): a batch of 3 costs the server one X25519", async () => {
  const fx = await makeFixture();
  const d = await startDaemon(fx.config);
  try {
    const before = await status(fx.config);
    const pool = before.open_pool as { x25519: number } | null;
    assert.ok(pool !== null, "the default config opens in workers");
    const opened = await ClientSession.open(aliceOptions(fx, {
      retries: 1,
    }));
    assert.ok(opened.ok, "the session opens");
    const s = opened.session;
    const results = [];
    for (const action of [1, 2, 1]) results.push(await s.run(action));
    assert.deepEqual(results.map((r) => r.status), [
      ReplyStatus.Ok,
      ReplyStatus.Ok,
      ReplyStatus.Ok,
    ]);
    assert.equal(results[0].body?.data, "pong");
    const after = await status(fx.config);
    await s.close();
    const delta = (k: string) => Number(after[k]) - Number(before[k]);
    assert.equal(delta("x25519_total"), 1, "one X25519 for the handshake, none for the commands");
    assert.equal(delta("x25519_workers"), 1, "and it happened in an open worker");
    assert.equal(delta("x25519_main_thread"), 0);
    assert.equal(
      (after.open_pool as { x25519: number }).x25519 - pool.x25519,
      1,
      "the pool's own count says the same",
    );
    const counters = after.counters as Record<string, number>;
    assert.equal(counters.session_commands, 3);
    assert.equal(counters.sessions_opened, 1);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("status counts X25519 done in open workers: three first-contact requests cost three", async () => {
  const fx = await makeFixture();
  const d = await startDaemon(fx.config);
  try {
    const before = await status(fx.config);
    for (let i = 0; i < 3; i++) {
      const r = await runCli(["send", "-p", fx.profile, "ping"]);
      assert.equal(r.code, 0, r.stderr);
    }
    const after = await status(fx.config);
    assert.equal(Number(after.x25519_total) - Number(before.x25519_total), 3);
    assert.equal(Number(after.x25519_workers) - Number(before.x25519_workers), 3);
    const text = await runCli(["admin", "--config", fx.config, "status"]);
    assert.match(
      text.stdout,
      new RegExp(`^x25519\\s+${after.x25519_total} \\(\\d+ in open workers\\)$`, "m"),
    );
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("a session's end leaves an info summary: user, source, why, commands run by action", async () => {
  const fx = await makeFixture({
    actions: [{ id: 11, name: "forbidden", type: "builtin", builtin: "ping" }],
    top: { limits: { sessions: { idle: 1 } } },
  });
  const d = await startDaemon(fx.config);
  try {
    // Closed by the client: three commands run (builtins: at debug each), one refused.
    const r = await runCli(["session", "-p", fx.profile], {
      stdin: "ping\nlist_actions\nforbidden\nping\n",
    });
    assert.equal(r.code, 1, r.stderr);
    await d.waitFor(/"decision":"session_closed"/);
    const [closed] = d.records().filter((x) => x.decision === "session_closed");
    assert.equal(closed.level, "info");
    assert.equal(closed.user, "alice");
    assert.equal(closed.ip, "127.0.0.1");
    assert.equal(closed.reason, "closed");
    assert.equal(closed.commands, 3);
    assert.deepEqual(closed.actions, { list_actions: 1, ping: 2 });
    assert.equal(closed.ran, "list_actions:1,ping:2");
    assert.equal(closed.refused, 1);
    assert.equal(typeof closed.duration_ms, "number");
    const [opened] = d.records().filter((x) => x.decision === "session");
    assert.equal(closed.session, opened.session, "the summary names the session it closes");
    assert.deepEqual(
      d.records().filter((x) => x.decision === "accepted" && x.level === "info"),
      [],
      "the builtins themselves stay at debug",
    );

    // Left open and idle: the daemon ends it on its own and says so.
    const opened2 = await ClientSession.open(aliceOptions(fx, {
      retries: 1,
    }));
    assert.ok(opened2.ok);
    assert.equal((await opened2.session.run(1)).status, ReplyStatus.Ok);
    await d.waitFor(/"reason":"idle"/, 15_000);
    const idle = d.records().find((x) => x.decision === "session_closed" && x.reason === "idle");
    assert.ok(idle);
    assert.deepEqual(idle.actions, { ping: 1 });
    await opened2.session.close(); // arrives after the end: dropped
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

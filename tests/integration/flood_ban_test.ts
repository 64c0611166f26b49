/**
 * Rate limiting and bans against a real daemon: a flooding source is slowed (its address
 * proves nothing, so it is never banned on its word) while a good client keeps getting
 * through; bans survive restart and `siglatch bans` changes them.
 */
import assert from "node:assert/strict";
import { aliceRequest, makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";
import { AdminClient } from "../../src/client/admin/client.ts";

/** Sends `count` random datagrams from `bindHost` to the daemon, in bursts. */
async function flood(bindHost: string, port: number, count: number): Promise<void> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: bindHost, port: 0 });
  try {
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
    for (let sent = 0; sent < count; sent += 50) {
      await Promise.all(
        Array.from(
          { length: 50 },
          () => conn.send(crypto.getRandomValues(new Uint8Array(300)), to),
        ),
      );
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    conn.close();
  }
}

Deno.test("a flooding source is slowed, never banned on its word; a good client still succeeds; bans persist", async () => {
  const fx = await makeFixture({
    top: {
      rate_limit: {
        fail_rate: 2,
        fail_burst: 10,
        ban_time: "1h",
        per_source_rate: 5000,
        per_source_burst: 5000,
      },
    },
  });
  const d = await startDaemon(fx.config);
  try {
    const flooding = flood("127.0.0.2", fx.port, 2000);
    const good = await aliceRequest(fx, 1, "", { bind: "127.0.0.3", timeoutMs: 1000, retries: 2 });
    await flooding;
    assert.equal(good.status, ReplyStatus.Ok, "the good client is served during the flood");
    // Its address proves nothing (anyone can forge it): the flood costs it tokens, no ban.
    await d.waitFor(/rejected reason=rate src=127\.0\.0\.2/);
    assert.doesNotMatch(d.logs(), /banned src=127\.0\.0\.2/);
    // An operator bans it.
    const admin = await AdminClient.connect(`${fx.dir}/run/admin.sock`);
    try {
      const r = await admin.request("ban", { addr: "127.0.0.2", for: "1h" });
      assert.ok(r.ok, JSON.stringify(r));
    } finally {
      admin.close();
    }
    // The banned address is dropped before any crypto, even with a valid request. (Past the
    // flood's second, so its drop line is not among the rate-limited ones.)
    await new Promise((r) => setTimeout(r, 1100));
    const fromBanned = await aliceRequest(fx, 1, "", { bind: "127.0.0.2", timeoutMs: 500 });
    assert.equal(fromBanned.answered, false);
    await d.waitFor(/rejected reason=banned src=127\.0\.0\.2/);
    const again = await aliceRequest(fx, 1, "", { bind: "127.0.0.3" });
    assert.equal(again.status, ReplyStatus.Ok);
  } finally {
    assert.equal(await d.stop(), 0);
  }
  // Bans are in the state store: a restart keeps them.
  const d2 = await startDaemon(fx.config);
  try {
    const stillBanned = await aliceRequest(fx, 1, "", { bind: "127.0.0.2", timeoutMs: 500 });
    assert.equal(stillBanned.answered, false, "the ban survives a restart");
    const listed = await runCli(["bans", "list", "--config", fx.config, "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /127\.0\.0\.2/);
    const removed = await runCli(["bans", "remove", "127.0.0.2", "--config", fx.config]);
    assert.equal(removed.code, 0, removed.stderr);
    // The daemon picks store changes up within its refresh period (5 s).
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const r = await aliceRequest(fx, 1, "", { bind: "127.0.0.2", timeoutMs: 300 });
      ok = r.status === ReplyStatus.Ok;
    }
    assert.ok(ok, "after `siglatch bans remove` the address is served again");
    const add = await runCli(["bans", "add", "127.0.0.4", "--for", "10m", "--config", fx.config]);
    assert.equal(add.code, 0, add.stderr);
    let dropped = false;
    for (let i = 0; i < 20 && !dropped; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const r = await aliceRequest(fx, 1, "", { bind: "127.0.0.4", timeoutMs: 300 });
      dropped = !r.answered;
    }
    assert.ok(dropped, "after `siglatch bans add` the address is dropped");
  } finally {
    await d2.stop();
    await fx.cleanup();
  }
});

Deno.test("deny list always drops; allow list is never banned", async () => {
  const fx = await makeFixture({
    top: {
      rate_limit: {
        fail_rate: 1,
        fail_burst: 5,
        deny: ["127.0.0.6/32"],
        allow: ["127.0.0.7/32"],
        per_source_rate: 5000,
        per_source_burst: 5000,
      },
    },
  });
  const d = await startDaemon(fx.config);
  try {
    const denied = await aliceRequest(fx, 1, "", { bind: "127.0.0.6", timeoutMs: 500 });
    assert.equal(denied.answered, false, "a denied source gets nothing, even with a valid key");
    await flood("127.0.0.7", fx.port, 500);
    const allowed = await aliceRequest(fx, 1, "", { bind: "127.0.0.7", retries: 2 });
    assert.equal(allowed.status, ReplyStatus.Ok, "an allow-listed source is never banned");
    assert.doesNotMatch(d.logs(), /banned src=127\.0\.0\.7/);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

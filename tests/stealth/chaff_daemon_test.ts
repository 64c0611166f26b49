/**
 * Chaff against a real daemon: `siglatch send --chaff N` (and the profile's `chaff:`) sends
 * decoys the daemon opens, counts as `chaff` and drops without a reply, a failure or a ban;
 * the real request among them is answered, and so is the next one from the same source.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { aliceRequest, makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { AdminClient } from "../../src/client/admin/client.ts";

Deno.test({
  name: "chaff: decoys are counted and dropped, never failures; the source stays welcome",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // One failure would already cost this source its failure budget.
    const fx = await makeFixture({ top: { rate_limit: { fail_rate: 0.01, fail_burst: 1 } } });
    const daemon = await startDaemon(fx.config);
    const admin = await AdminClient.connect(`${fx.dir}/run/admin.sock`);
    try {
      const counters = async () => {
        const r = await admin.request("status", {}, 10_000);
        if (!r.ok) throw new Error(r.error);
        return (r.result as { counters: Record<string, number> }).counters;
      };
      const flag = await runCli([
        "send",
        "-p",
        fx.profile,
        "--chaff",
        "7",
        "--chaff-jitter",
        "20",
        "ping",
      ]);
      assert.equal(flag.code, 0, flag.stderr);
      const profile = parse(await Deno.readTextFile(fx.profile)) as Record<string, unknown>;
      await Deno.writeTextFile(
        fx.profile,
        stringify({ ...profile, chaff: 5, chaff_jitter_ms: 10 }),
      );
      const fromProfile = await runCli(["send", "-p", fx.profile, "ping"]);
      assert.equal(fromProfile.code, 0, fromProfile.stderr);
      let c = await counters();
      for (let i = 0; i < 20 && (c.chaff ?? 0) < 12; i++) {
        await new Promise((r) => setTimeout(r, 100));
        c = await counters();
      }
      assert.equal(c.chaff, 12, JSON.stringify(c));
      assert.equal(c.dropped ?? 0, 0, `nothing counted as a refusal: ${JSON.stringify(c)}`);
      const after = await aliceRequest(fx, 1);
      assert.equal(after.answered && after.status, 0, "the next real request is answered");
      const bans = await admin.request("list", { what: "bans" }, 10_000);
      assert.ok(bans.ok, bans.ok ? "" : bans.error);
      assert.doesNotMatch(JSON.stringify(bans.result), /127\.0\.0\.1/, "not banned");
    } finally {
      admin.close();
      await daemon.stop();
      await fx.cleanup();
    }
  },
});

/**
 * nftables reconciliation through a real daemon: a `siglatchd` with a firewall action and
 * nftables bans runs in a server namespace; a knock from the client namespace makes a grant,
 * the admin socket makes a ban; then `nft flush ruleset` (what restarting Debian's
 * `nftables` service does) wipes the namespace's ruleset. The daemon's table, the grant's
 * element and the ban's element must come back by themselves (polled with a deadline), and
 * new grant requests must succeed, also right after a second flush.
 * @module
 */
import assert from "node:assert/strict";
import { AdminClient } from "../../src/client/admin/client.ts";
import { makeFixture } from "../_helpers/daemon.ts";
import { type KnockClientApi, spawnKnockClient } from "../_helpers/knock_client.ts";
import {
  type NetnsDaemon,
  type NetnsPair,
  skipNetns,
  startDaemonIn,
  withNetnsPair,
} from "../_helpers/netns.ts";

const PORT = 62201;
const BANNED = "192.0.2.77";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Elements (first field) of one of our sets, or null when the set (or table) is missing. */
async function elements(pair: NetnsPair, set: string): Promise<string[] | null> {
  const r = await pair.run(pair.server, ["nft", "-j", "list", "set", "inet", "siglatch", set]);
  if (r.code !== 0) return null;
  const out: string[] = [];
  const parsed = JSON.parse(r.stdout) as { nftables: Array<Record<string, { elem?: unknown[] }>> };
  for (const item of parsed.nftables) {
    for (const raw of item.set?.elem ?? []) {
      const val = (raw as { elem?: { val: unknown } }).elem?.val ?? raw;
      const concat = typeof val === "object" ? (val as { concat?: unknown[] }).concat : undefined;
      out.push(String(Array.isArray(concat) ? concat[0] : val));
    }
  }
  return out;
}

/** The server namespace's ruleset as text (for failure messages). */
async function ruleset(pair: NetnsPair): Promise<string> {
  return (await pair.run(pair.server, ["nft", "list", "ruleset"])).stdout;
}

/** Polls until the grant and ban elements are in the kernel; false at the deadline. */
async function restored(pair: NetnsPair, deadlineMs: number): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    const grants = await elements(pair, "grants_v4");
    const bans = await elements(pair, "banned_v4");
    if (grants?.includes(pair.clientIp) && bans?.includes(BANNED)) return true;
    await sleep(200);
  }
  return false;
}

Deno.test({
  name:
    "e2e nft reconcile: after `nft flush ruleset` table, grants and bans come back by themselves",
  ignore: skipNetns(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await withNetnsPair(async (pair) => {
      const fw = (port: number) => ({
        type: "firewall",
        firewall: { ports: [{ proto: "tcp", port }], duration: "10m" },
      });
      const fx = await makeFixture({
        listen: [`${pair.serverIp}:${PORT}`],
        server: { limits: { explain_refusals: true } },
        top: { rate_limit: { nftables: true } },
        aliceActions: ["ssh", "web"],
        actions: [{ id: 10, name: "ssh", ...fw(2222) }, { id: 11, name: "web", ...fw(8443) }],
      });
      let daemon: NetnsDaemon | undefined;
      let kc: KnockClientApi | undefined;
      let admin: AdminClient | undefined;
      try {
        daemon = await startDaemonIn(pair.server, fx.config);
        kc = await spawnKnockClient(pair.client, {
          host: pair.serverIp,
          port: PORT,
          serverPublic: fx.serverPublic,
          userId: 1,
          hmacKey: fx.aliceKey,
        });
        const client = kc;
        const knock = (actionId: number) =>
          client.send({ actionId, bind: pair.clientIp, retries: 2, timeoutMs: 3000 });
        admin = await AdminClient.connect(`${fx.dir}/run/admin.sock`);

        await t.step("a grant and a ban are in the kernel", async () => {
          const g = await knock(10);
          assert.equal(g.status, 0, JSON.stringify(g));
          const b = await admin!.request("ban", { addr: BANNED, for: "10m" });
          assert.ok(b.ok, JSON.stringify(b));
          assert.ok(
            await restored(pair, 5000),
            `grant or ban never reached the kernel:\n${await ruleset(pair)}\n${daemon!.logs()}`,
          );
        });

        await t.step("after `nft flush ruleset` they come back without any request", async () => {
          const flushed = await pair.run(pair.server, ["nft", "flush", "ruleset"]);
          assert.equal(flushed.code, 0, flushed.stderr);
          assert.equal(await elements(pair, "grants_v4"), null, "flush left the table");
          assert.ok(
            await restored(pair, 20_000),
            `not restored:\n${await ruleset(pair)}\n${daemon!.logs()}`,
          );
          const chains = await pair.run(pair.server, ["nft", "list", "table", "inet", "siglatch"]);
          assert.match(chains.stdout, /chain grants/);
          assert.match(chains.stdout, /chain bans/);
          assert.match(chains.stdout, /@grants_v4/);
          assert.match(chains.stdout, /@banned_v4/);
          // Status shows the repairs (under privilege separation its figures are refreshed
          // from the privileged part every few seconds).
          type Rec = Record<string, { repairs: number; last_repair: string | null }>;
          let rec: Rec = {};
          const deadline = Date.now() + 10_000;
          do {
            const status = await admin!.request("status");
            assert.ok(status.ok);
            rec = (status.result as { nft_reconcile: Rec }).nft_reconcile;
            if (rec.grants?.repairs >= 1 && rec.bans?.repairs >= 1) break;
            await new Promise((r) => setTimeout(r, 250));
          } while (Date.now() < deadline);
          assert.ok(rec.grants.repairs >= 1 && rec.grants.last_repair, JSON.stringify(rec));
          assert.ok(rec.bans.repairs >= 1 && rec.bans.last_repair, JSON.stringify(rec));
        });

        await t.step("a new grant request succeeds, also right after another flush", async () => {
          const g = await knock(11);
          assert.equal(g.status, 0, JSON.stringify(g));
          const flushed = await pair.run(pair.server, ["nft", "flush", "ruleset"]);
          assert.equal(flushed.code, 0, flushed.stderr);
          const again = await knock(10);
          assert.equal(again.status, 0, JSON.stringify(again));
          assert.ok(await restored(pair, 20_000), "not restored after the second flush");
          const listed = await pair.run(pair.server, [
            "nft",
            "list",
            "set",
            "inet",
            "siglatch",
            "grants_v4",
          ]);
          assert.match(
            listed.stdout,
            new RegExp(`${pair.clientIp.replaceAll(".", "\\.")} \\. tcp \\. 8443`),
          );
          assert.doesNotMatch(daemon!.logs(), /internal_error/);
        });
      } finally {
        admin?.close();
        await kc?.close();
        await daemon?.stop("SIGKILL");
        await fx.cleanup();
      }
    });
  },
});

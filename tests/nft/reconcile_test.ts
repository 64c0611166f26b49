/**
 * Reconciliation of the nft leaf: the {@linkcode Reconciler} itself (probe, repair, status),
 * and on a real kernel inside a throwaway namespace: after `nft flush ruleset` the grant
 * backend and the ban mirror rebuild table, chains, sets and elements from memory, on a
 * probe and on a failed batch (which is then retried once); a junk ban source never reaches
 * a script.
 * @module
 */
import assert from "node:assert/strict";
import { Reconciler } from "../../src/nft/reconcile.ts";
import { NftGrants } from "../../src/nft/grants.ts";
import { NftBans } from "../../src/nft/bans.ts";
import { runBounded, skipNetns, withNs } from "../_helpers/netns.ts";

Deno.test("Reconciler: repairs what the probe finds missing, remembers the last result", async () => {
  let missing: string[] = [];
  let fail = "";
  const repaired: string[][] = [];
  const errors: string[] = [];
  let now = 1_700_000_000_000;
  const r = new Reconciler({
    intervalMs: 0,
    clock: () => now,
    probe: () => Promise.resolve(missing),
    repair: (m) => fail ? Promise.reject(new Error(fail)) : (repaired.push(m), Promise.resolve()),
    onError: (m) => errors.push(m),
  });
  assert.deepEqual(r.status(), { last_check: null, last_repair: null, repairs: 0, repaired: [] });
  assert.equal(await r.check(), false);
  assert.equal(r.status().last_check, new Date(now).toISOString());
  assert.equal(r.status().last_repair, null);

  missing = ["table"];
  now += 1000;
  const [a, b] = await Promise.all([r.check(), r.check()]); // one run shared
  assert.deepEqual([a, b], [true, true]);
  assert.deepEqual(repaired, [["table"]]);
  assert.deepEqual(r.status(), {
    last_check: new Date(now).toISOString(),
    last_repair: new Date(now).toISOString(),
    repairs: 1,
    repaired: ["table"],
  });

  fail = "nft: Operation not permitted";
  assert.equal(await r.check(), false);
  assert.equal(await r.check(), false);
  assert.equal(r.status().error, fail);
  assert.equal(r.status().repairs, 1);
  assert.deepEqual(errors, [fail], "the same error is reported once");
  fail = "";
  missing = [];
  await r.check();
  assert.equal(r.status().error, undefined);
});

const nftIn = (ns: string) => ["ip", "netns", "exec", ns, "nft"];

async function sh(ns: string, ...args: string[]): Promise<string> {
  const r = await runBounded([...nftIn(ns), ...args]);
  if (r.code !== 0) throw new Error(`nft ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

Deno.test({
  name: "NftGrants + NftBans: after `nft flush ruleset` a probe or a failed batch rebuilds all",
  ignore: skipNetns(),
  async fn() {
    await withNs(async (ns) => {
      const errors: string[] = [];
      const grants = new NftGrants({ command: nftIn(ns), onError: (m) => errors.push(m) });
      const bans = new NftBans({
        command: nftIn(ns),
        ports: [62201],
        onError: (m) => errors.push(m),
      });
      const now = Date.now();
      await grants.setup([{
        address: "10.1.1.1",
        ports: [{ proto: "tcp", port: 22 }],
        expiresAt: now + 60_000,
      }]);
      await bans.setup([
        { source: "192.0.2.9", until: null },
        { source: "2001:db8::/64", until: now + 60_000 },
        // Junk as a state store could hold it: refused, never written into a script.
        {
          source: "192.0.2.10 } ; flush ruleset ; add element inet siglatch banned_v4 { 1.1.1.1",
          until: null,
        },
      ]);
      assert.equal(bans.counters.refused, 1);
      assert.match(errors.join("\n"), /ban source refused/);
      errors.length = 0;
      await grants.grant("2001:db8::5", [{ proto: "udp", port: 500 }], 60_000);
      bans.ban({ source: "198.51.100.3", until: now + 60_000 });
      await bans.flush();

      const expected = async () => {
        const text = await sh(ns, "list", "table", "inet", "siglatch");
        for (
          const want of [
            /10\.1\.1\.1 \. tcp \. 22 timeout/,
            /2001:db8::5 \. udp \. 500 timeout/,
            /192\.0\.2\.9[ ,\n}]/,
            /198\.51\.100\.3 timeout/,
            /2001:db8::\/64 timeout/,
            /chain grants/,
            /@grants_v6/,
            /chain bans/,
            /@banned_v6 udp dport @ban_ports/,
            /62201/,
          ]
        ) assert.match(text, want);
        assert.doesNotMatch(text, /1\.1\.1\.1/);
      };
      await expected();
      assert.equal(await grants.reconcile(), false, "nothing missing: no repair");

      // A probe finds the table gone and rebuilds it from memory.
      await sh(ns, "flush", "ruleset");
      assert.equal(await grants.reconcile(), true);
      assert.equal(await bans.reconcile(), true);
      await expected();
      assert.equal(grants.reconcileStatus().repairs, 1);
      assert.deepEqual(grants.reconcileStatus().repaired, ["table"]);
      assert.deepEqual(bans.reconcileStatus().repaired, [
        "set:banned_v4",
        "set:banned_v6",
        "set:ban_ports",
        "chain:bans",
      ]);

      // Only the rules flushed: that is missing too.
      await sh(ns, "flush", "chain", "inet", "siglatch", "grants");
      assert.equal(await grants.reconcile(), true);
      assert.deepEqual(grants.reconcileStatus().repaired, ["rules:grants"]);

      // A failed batch repairs and is retried once: the grant and the ban succeed.
      await sh(ns, "flush", "ruleset");
      await grants.grant("10.2.2.2", [{ proto: "tcp", port: 443 }], 60_000);
      bans.ban({ source: "203.0.113.4", until: null });
      await bans.flush();
      await expected();
      const text = await sh(ns, "list", "table", "inet", "siglatch");
      assert.match(text, /10\.2\.2\.2 \. tcp \. 443 timeout/);
      assert.match(text, /203\.0\.113\.4/);
      assert.equal(grants.counters.failed, 0);
      assert.deepEqual(errors, []);
      assert.equal(grants.reconcileStatus().repairs, 3);
      assert.equal(bans.reconcileStatus().repairs, 2);

      // A revoked grant and a lifted ban are not put back by a repair.
      await grants.revoke("10.2.2.2", [{ proto: "tcp", port: 443 }]);
      bans.unban("203.0.113.4");
      await bans.flush();
      await sh(ns, "flush", "ruleset");
      await grants.reconcile();
      await bans.reconcile();
      const after = await sh(ns, "list", "table", "inet", "siglatch");
      assert.doesNotMatch(after, /10\.2\.2\.2|203\.0\.113\.4/);
      assert.match(after, /198\.51\.100\.3/);

      await grants.teardown();
      await bans.teardown();
      assert.doesNotMatch(await sh(ns, "list", "tables"), /siglatch/);
    });
  },
});

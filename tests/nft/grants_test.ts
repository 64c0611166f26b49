/**
 * The nftables grant backend on a real kernel inside a network namespace (elements,
 * batches, teardown), and the canonical-address check at the leaf.
 * @module
 */
import assert from "node:assert/strict";
import { elementOf, NftGrants } from "../../src/nft/grants.ts";
import { runBounded, skipNetns, withNs } from "../_helpers/netns.ts";

Deno.test("elementOf: refuses anything but an address, a protocol and a port", () => {
  assert.deepEqual(elementOf("10.0.0.1", { proto: "tcp", port: 22 }), {
    set: "grants_v4",
    elem: "10.0.0.1 . tcp . 22",
  });
  assert.equal(elementOf("2001:db8::1", { proto: "udp", port: 53 }).set, "grants_v6");
  assert.throws(() => elementOf("10.0.0.1 }; flush ruleset; {", { proto: "tcp", port: 22 }));
  assert.throws(() => elementOf("10.0.0.1", { proto: "tcp", port: 0 }));
  assert.throws(() => elementOf("10.0.0.1", { proto: "icmp" as "tcp", port: 1 }));
});

async function ruleset(ns: string): Promise<string> {
  return (await runBounded(["ip", "netns", "exec", ns, "nft", "list", "ruleset"])).stdout;
}

Deno.test({
  name: "NftGrants: setup, batched grants and revokes, list, teardown (in a netns)",
  ignore: skipNetns(),
  async fn() {
    await withNs(async (ns) => {
      const errors: string[] = [];
      const nft = new NftGrants({ netns: ns, onError: (m) => errors.push(m) });
      await nft.setup();
      const rs = await ruleset(ns);
      assert.match(rs, /type filter hook input priority filter - 10; policy accept;/);
      assert.match(
        rs,
        /ip saddr \. meta l4proto \. th dport @grants_v4 meta mark set meta mark \| 0x20000000 accept/,
      );
      // A burst: coalesced into few nft processes.
      const jobs: Promise<void>[] = [];
      for (let i = 0; i < 300; i++) {
        jobs.push(nft.grant(`10.9.${i >> 8}.${i & 255}`, [{ proto: "tcp", port: 22 }], 60_000));
      }
      jobs.push(
        nft.grant("2001:db8::7", [{ proto: "tcp", port: 22 }, { proto: "udp", port: 53 }], 60_000),
      );
      await Promise.all(jobs);
      assert.ok(nft.counters.batches <= 3, `batches ${nft.counters.batches}`);
      let listed = await nft.list();
      assert.equal(listed.length, 302);
      const v6 = listed.filter((e) => e.address === "2001:db8::7").map((e) =>
        `${e.proto}/${e.port}`
      ).sort();
      assert.deepEqual(v6, ["tcp/22", "udp/53"]);
      // Re-grant replaces the timeout (longer and shorter), revoke removes; absent revoke is fine.
      await nft.grant("10.9.0.1", [{ proto: "tcp", port: 22 }], 5_000);
      await nft.revoke("10.9.0.2", [{ proto: "tcp", port: 22 }]);
      await nft.revoke("10.99.0.2", [{ proto: "tcp", port: 22 }]);
      listed = await nft.list();
      assert.equal(listed.length, 301);
      const e1 = listed.find((e) => e.address === "10.9.0.1")!;
      assert.ok(e1.timeoutMs! <= 5000, JSON.stringify(e1));
      assert.deepEqual(errors, []);
      // Setup again (restart) with different priority: chain replaced, sets rebuilt from the store.
      const again = new NftGrants({ netns: ns, priority: -5, mark: 0 });
      await again.setup([{
        address: "10.1.1.1",
        ports: [{ proto: "udp", port: 500 }],
        expiresAt: Date.now() + 30_000,
      }]);
      const rs2 = await ruleset(ns);
      assert.match(rs2, /priority filter - 5;/);
      assert.match(rs2, /@grants_v4 accept/);
      assert.deepEqual((await again.list()).map((e) => `${e.address} ${e.proto}/${e.port}`), [
        "10.1.1.1 udp/500",
      ]);
      await again.teardown();
      assert.equal((await ruleset(ns)).trim(), "");
    });
  },
});

Deno.test({
  name:
    "NftGrants: teardown keeps the shared table when other objects live in it; other tables untouched",
  ignore: skipNetns(),
  async fn() {
    await withNs(async (ns) => {
      const other =
        "table inet siglatch {\n  set banned_v4 { type ipv4_addr; flags timeout; }\n}\n" +
        "table inet hostfw {\n  chain input { type filter hook input priority 0; policy accept; }\n}\n";
      const r = await runBounded(["ip", "netns", "exec", ns, "nft", "-f", "-"], { stdin: other });
      assert.equal(r.code, 0, r.stderr);
      const hostBefore =
        (await runBounded(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", "hostfw"]))
          .stdout;
      const nft = new NftGrants({ netns: ns });
      await nft.setup();
      await nft.grant("10.0.0.1", [{ proto: "tcp", port: 22 }], 10_000);
      await nft.teardown();
      const rs = await ruleset(ns);
      assert.match(rs, /set banned_v4/);
      assert.doesNotMatch(rs, /grants/);
      const hostAfter =
        (await runBounded(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", "hostfw"]))
          .stdout;
      assert.equal(hostAfter, hostBefore);
    });
  },
});

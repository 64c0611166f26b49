/**
 * Firewall action: address selection (pure), and grants through the real nftables backend
 * inside a network namespace with a real Deno KV store (records, overlap, restart).
 * @module
 */
import assert from "node:assert/strict";
import { grantAddress, isGrantable } from "../../src/actions/firewall.ts";
import { FirewallGrants } from "../../src/actions/firewall.ts";
import { elementOf, NftGrants } from "../../src/nft/grants.ts";
import { KvStateStore } from "../../src/state/kv.ts";
import { formatIp, parseCidr, parseIp } from "../../src/util/ip.ts";
import { runBounded, skipNetns } from "../_helpers/netns.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const src = parseIp("198.51.100.7")!;

Deno.test("grantAddress: source by default; payload address only when allowed and sane", () => {
  const no = { allow_payload_address: false };
  const yes = { allow_payload_address: true };
  const addr = (d: ReturnType<typeof grantAddress>) => d.ok ? formatIp(d.address) : d.reason;
  assert.equal(addr(grantAddress(no, src, new Uint8Array())), "198.51.100.7");
  assert.equal(addr(grantAddress(no, src, enc("  \n"))), "198.51.100.7");
  assert.equal(addr(grantAddress(no, src, enc("198.51.100.7"))), "198.51.100.7");
  assert.equal(addr(grantAddress(no, src, enc("203.0.113.9"))), "payload_address_not_allowed");
  assert.equal(addr(grantAddress(yes, src, enc("203.0.113.9\n"))), "203.0.113.9");
  assert.equal(addr(grantAddress(yes, src, enc("2001:db8::5"))), "2001:db8::5");
  assert.equal(addr(grantAddress(yes, src, enc("::ffff:203.0.113.9"))), "203.0.113.9");
  for (
    const bad of [
      "0.0.0.0",
      "127.0.0.1",
      "224.0.0.1",
      "255.255.255.255",
      "::",
      "::1",
      "fe80::1",
      "ff02::1",
      "169.254.1.1",
    ]
  ) {
    assert.equal(addr(grantAddress(yes, src, enc(bad))), "payload_address_invalid", bad);
  }
  for (
    const bad of [
      "example.com",
      "10.0.0.1/8",
      "10.0.0.1; flush ruleset",
      "1.2.3",
      "x".repeat(80),
      "10.0.0.1 . tcp . 22",
    ]
  ) {
    assert.equal(addr(grantAddress(yes, src, enc(bad))), "payload_address_invalid", bad);
  }
  assert.equal(
    addr(grantAddress(yes, src, new Uint8Array([0xff, 0xfe]))),
    "payload_address_invalid",
  );
  const cidrs = [parseCidr("203.0.113.0/24")!];
  assert.equal(addr(grantAddress(yes, src, enc("203.0.113.9"), cidrs)), "203.0.113.9");
  assert.equal(
    addr(grantAddress(yes, src, enc("192.0.2.1"), cidrs)),
    "payload_address_outside_cidrs",
  );
  assert.equal(isGrantable(parseIp("10.1.2.3")!), true);
});

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

/** Runs fn with a fresh empty namespace (no veth needed for set contents). */
async function withNs<T>(fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = `slU${Deno.pid % 100000}${Math.floor(Math.random() * 46656).toString(36)}`;
  const add = await runBounded(["ip", "netns", "add", ns]);
  if (add.code !== 0) throw new Error(add.stderr);
  try {
    return await fn(ns);
  } finally {
    await runBounded(["ip", "netns", "del", ns]);
  }
}

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

Deno.test({
  name: "FirewallGrants: store records, overlapping grants, revoke by user, restart rebuilds",
  ignore: skipNetns(),
  async fn() {
    await withNs(async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "siglatch-fw-" });
      try {
        let store = await KvStateStore.open(dir);
        let fw = new FirewallGrants(store, new NftGrants({ netns: ns }));
        await fw.start();
        const nat = parseIp("203.0.113.5")!;
        const ssh = [{ proto: "tcp" as const, port: 22 }];
        await fw.grant({
          userId: 1,
          user: "alice",
          action: "ssh",
          address: nat,
          source: nat,
          ports: ssh,
          durationMs: 60_000,
        });
        await fw.grant({
          userId: 2,
          user: "bob",
          action: "ssh",
          address: nat,
          source: nat,
          ports: ssh,
          durationMs: 5_000,
        });
        const nftList = async () =>
          (await fw.nft.list()).map((e) => `${e.address} ${e.proto}/${e.port} ${e.timeoutMs}`);
        const secs = async () =>
          (await fw.nft.list()).map((e) =>
            `${e.address} ${e.proto}/${e.port} ${Math.round(e.timeoutMs! / 10_000)}`
          );
        assert.deepEqual(
          await secs(),
          ["203.0.113.5 tcp/22 6"],
          "bob's shorter grant does not shorten alice's",
        );
        assert.equal(fw.list().length, 2);
        assert.equal(fw.list()[0].user, "bob", "soonest first");
        // Revoking alice keeps the element for bob (with bob's time).
        const gone = await fw.revoke({ userId: 1 });
        assert.equal(gone.length, 1);
        assert.deepEqual(await secs(), ["203.0.113.5 tcp/22 0"], "bob's 5 s remain");
        await fw.grant({
          userId: 3,
          user: "carol",
          action: "web",
          address: parseIp("2001:db8::9")!,
          source: parseIp("2001:db8::9")!,
          ports: [{ proto: "tcp", port: 443 }],
          durationMs: 40_000,
        });
        await fw.nft.flush();
        // Restart: a new process rebuilds the kernel sets from the store.
        await store.close();
        store = await KvStateStore.open(dir);
        fw = new FirewallGrants(store, new NftGrants({ netns: ns }));
        await fw.start();
        assert.deepEqual(fw.list().map((g) => g.user), ["bob", "carol"]);
        assert.ok(fw.list()[1].remainingMs > 30_000 && fw.list()[1].remainingMs <= 40_000);
        assert.deepEqual((await nftList()).map((l) => l.split(" ").slice(0, 2).join(" ")).sort(), [
          "2001:db8::9 tcp/443",
          "203.0.113.5 tcp/22",
        ]);
        await fw.revoke({});
        assert.deepEqual(await nftList(), []);
        await store.close();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});

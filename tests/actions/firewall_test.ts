/**
 * Firewall action: address selection (pure), and grants through the real nftables backend
 * inside a network namespace with a real Deno KV store (records, overlap, restart).
 * @module
 */
import assert from "node:assert/strict";
import { grantAddress, isGrantable } from "../../src/actions/firewall.ts";
import { FirewallGrants } from "../../src/actions/firewall.ts";
import { NftGrants } from "../../src/nft/grants.ts";
import { KvStateStore } from "../../src/state/kv.ts";
import { formatIp, parseCidr, parseIp } from "../../src/util/ip.ts";
import { skipNetns, withNs } from "../_helpers/netns.ts";

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

/**
 * `siglatch bans add|list|remove` as a real subprocess on a real config and state store,
 * and what it writes is what the daemon's BanList reads.
 */
import assert from "node:assert/strict";
import { KvStateStore } from "../../src/state/kv.ts";
import { BanList } from "../../src/policy/bans.ts";
import { RedisStateStore } from "../../src/state/redis.ts";
import { startRedis } from "../_helpers/redis.ts";
import { skipWithout } from "../_helpers/system.ts";
import { RUN_FLAGS } from "../_helpers/flags.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FLAGS = [...RUN_FLAGS, "--unstable-kv"];

async function siglatch(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const res = await new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, `${ROOT}main.ts`, ...args],
    stdin: "null",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(30_000),
  }).output();
  const dec = new TextDecoder();
  return { code: res.code, out: dec.decode(res.stdout), err: dec.decode(res.stderr) };
}

async function withConfig(fn: (config: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-cli-bans-" });
  try {
    const config = `${dir}/siglatchd.yaml`;
    await Deno.writeTextFile(config, "servers: []\nstate:\n  path: state\n");
    await fn(config, dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test("siglatch bans add/list/remove on the config's state store", () =>
  withConfig(async (config, dir) => {
    let r = await siglatch(
      "bans",
      "add",
      "192.0.2.7",
      "--for",
      "2h",
      "--reason",
      "scan",
      "-c",
      config,
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /banned 192\.0\.2\.7 .*reason=scan/);
    r = await siglatch("bans", "add", "2001:db8:1:2::9", "--permanent", "--config", config);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /2001:db8:1:2::\/64 .*permanent.*IPv6 bans cover a \/64/);

    r = await siglatch("bans", "list", "--json", "-c", config);
    assert.equal(r.code, 0, r.err);
    const listed = JSON.parse(r.out) as { source: string; permanent: boolean; until: string }[];
    assert.deepEqual(listed.map((b) => [b.source, b.permanent]), [
      ["192.0.2.7", false],
      ["2001:db8:1:2::/64", true],
    ]);
    const left = Date.parse(listed[0].until) - Date.now();
    assert.ok(left > 7_100_000 && left <= 7_200_000, `until ${listed[0].until}`);
    r = await siglatch("bans", "list", "-c", config);
    assert.match(r.out, /192\.0\.2\.7\s+(1h59m|2h0m) left/);

    // What the daemon's BanList reads from the same store.
    const store = await KvStateStore.open(`${dir}/state`);
    try {
      const bans = await new BanList(store).load(Date.now());
      assert.deepEqual(bans.map((b) => b.source).sort(), ["192.0.2.7", "2001:db8:1:2::/64"]);
    } finally {
      await store.close();
    }

    r = await siglatch("bans", "remove", "192.0.2.7", "-c", config);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /unbanned 192\.0\.2\.7/);
    r = await siglatch("bans", "remove", "192.0.2.7", "-c", config);
    assert.equal(r.code, 1);
    assert.match(r.err, /192\.0\.2\.7 is not banned/);
    r = await siglatch("bans", "list", "-c", config);
    assert.doesNotMatch(r.out, /192\.0\.2\.7/);
    assert.match(r.out, /2001:db8:1:2::\/64/);
  }));

Deno.test("siglatch bans: clear errors for bad addresses and options (exit 2)", () =>
  withConfig(async (config) => {
    const cases: [string[], RegExp][] = [
      [["add", "not-an-ip"], /"not-an-ip" is not an IP address/],
      [["add", "300.1.2.3"], /is not an IP address/],
      [["add", "10.0.0.0/8"], /IPv4 bans are per address/],
      [["add", "2001:db8::/48"], /IPv6 bans are per \/64/],
      [["add", "192.0.2.1", "--for", "soon"], /--for "soon" is not a duration/],
      [["add", "192.0.2.1", "--for", "1h", "--permanent"], /either --for DURATION or --permanent/],
      [["remove", "::zz"], /is not an IP address/],
      [["add"], /missing required argument 'address'/],
    ];
    for (const [args, re] of cases) {
      const r = await siglatch("bans", ...args, "-c", config);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.match(r.err, re);
    }
    const missing = await siglatch("bans", "list", "-c", `${config}.nope`);
    assert.equal(missing.code, 1);
  }));

Deno.test("siglatch bans works on a Redis state store (a cluster's shared list)", {
  ignore: skipWithout("redis-server", "redis-server"),
}, async () => {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir({ prefix: "siglatch-cli-bans-redis-" });
  try {
    const config = `${dir}/siglatchd.yaml`;
    await Deno.writeTextFile(
      config,
      `servers: []\nstate:\n  redis: ${redis.url}\n  key_prefix: "cli:"\n`,
    );
    let r = await siglatch("bans", "add", "198.51.100.4", "--for", "1h", "-c", config);
    assert.equal(r.code, 0, r.err);
    // Another node reading the same Redis sees it.
    const store = await RedisStateStore.connect(redis.url, "cli:");
    try {
      const bans = await new BanList(store).load(Date.now());
      assert.deepEqual(bans.map((b) => b.source), ["198.51.100.4"]);
    } finally {
      await store.close();
    }
    r = await siglatch("bans", "remove", "198.51.100.4", "-c", config);
    assert.equal(r.code, 0, r.err);
    r = await siglatch("bans", "list", "--json", "-c", config);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), []);
  } finally {
    await redis.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

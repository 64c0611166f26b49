/**
 * BanList and SourceDefense over a real Deno KV store in a temp dir: bans persist, survive
 * reopening, expire, and changes made by another opener (the CLI) are picked up.
 */
import assert from "node:assert/strict";
import { KvStateStore } from "../../src/state/kv.ts";
import { BanList } from "../../src/policy/bans.ts";
import { SourceDefense } from "../../src/policy/defense.ts";
import type { Ban } from "../../src/policy/ratelimit.ts";
import { RateLimitSchema } from "../../src/config/schema.ts";
import { parseIp } from "../../src/util/ip.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-bans-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const ban = (source: string, until: number | null, extra: Partial<Ban> = {}): Ban => ({
  source,
  family: source.includes(":") ? 6 : 4,
  reason: "bad_mac1",
  created: Date.now(),
  until,
  count: 1,
  ...extra,
});

Deno.test({
  name: "BanList persists bans in Deno KV and they survive reopening; expired ones are dropped",
  sanitizeResources: true,
  fn: () =>
    withDir(async (dir) => {
      const now = Date.now();
      let store = await KvStateStore.open(dir);
      let list = new BanList(store);
      await list.add(ban("192.0.2.1", now + 3_600_000, { count: 3 }));
      await list.add(ban("2001:db8::/64", null, { reason: "operator" }));
      await list.add(ban("192.0.2.2", now + 50));
      await store.close();

      await new Promise((r) => setTimeout(r, 100));
      store = await KvStateStore.open(dir);
      list = new BanList(store);
      try {
        const loaded = await list.load(Date.now());
        const bySource = new Map(loaded.map((b) => [b.source, b]));
        assert.equal(loaded.length, 2, "the expired ban is gone");
        assert.equal(bySource.get("192.0.2.1")?.until, now + 3_600_000);
        assert.equal(bySource.get("192.0.2.1")?.count, 3);
        assert.equal(bySource.get("2001:db8::/64")?.until, null);
        assert.equal(bySource.get("2001:db8::/64")?.family, 6);
        assert.equal(bySource.get("2001:db8::/64")?.reason, "operator");
        // Stored form is {reason, until|permanent, count, created}.
        const raw = await store.get<Record<string, unknown>>("bans", "2001:db8::/64");
        assert.equal(raw?.value.permanent, true);
        assert.equal(raw?.expiresAt, undefined);
        assert.equal(await list.remove("192.0.2.1"), true);
        assert.equal(await list.remove("192.0.2.1"), false);
        assert.deepEqual((await list.list(Date.now())).map((b) => b.source), ["2001:db8::/64"]);
      } finally {
        await store.close();
      }
    }),
});

Deno.test("BanList.diff reports what another opener of the same store changed", () =>
  withDir(async (dir) => {
    const daemonStore = await KvStateStore.open(dir);
    const cliStore = await KvStateStore.open(dir);
    try {
      const daemon = new BanList(daemonStore);
      const cli = new BanList(cliStore);
      const now = Date.now();
      await daemon.add(ban("198.51.100.1", now + 60_000));
      await daemon.load(now);
      await cli.add(ban("198.51.100.2", null));
      await cli.remove("198.51.100.1");
      const d = await daemon.diff(Date.now());
      assert.deepEqual(d.upserted.map((b) => b.source), ["198.51.100.2"]);
      assert.deepEqual(d.removed, ["198.51.100.1"]);
      const again = await daemon.diff(Date.now());
      assert.deepEqual(again, { upserted: [], removed: [] });
      // Its own writes are not reported back.
      await daemon.add(ban("198.51.100.3", now + 60_000));
      assert.deepEqual(await daemon.diff(Date.now()), { upserted: [], removed: [] });
    } finally {
      await daemonStore.close();
      await cliStore.close();
    }
  }));

Deno.test("SourceDefense: a ban made by the gate is persisted and restored after a restart", () =>
  withDir(async (dir) => {
    const cfg = RateLimitSchema.parse({ fail_burst: 2, ban_time: "1h" });
    const src = parseIp("203.0.113.9")!;
    let store = await KvStateStore.open(dir);
    let defense = new SourceDefense(cfg, store, { refreshMs: 0 });
    await defense.start();
    assert.equal(defense.admit(src).ok, true);
    let made: Ban | null = null;
    for (let i = 0; i < 5 && !made; i++) made = defense.failed(src, "bad_mac1", true);
    assert.ok(made);
    assert.deepEqual(defense.admit(src), { ok: false, reason: "banned" });
    await defense.stop();
    await store.close();

    store = await KvStateStore.open(dir);
    defense = new SourceDefense(cfg, store, { refreshMs: 0 });
    try {
      await defense.start();
      assert.deepEqual(defense.admit(src), { ok: false, reason: "banned" });
      const c = defense.counters();
      assert.equal(c.bans_active, 1);
      assert.equal(c.drop_banned, 1);
      // An operator lifts it through another opener (the CLI); refresh picks it up.
      const cliStore = await KvStateStore.open(dir);
      await new BanList(cliStore).remove("203.0.113.9");
      await new BanList(cliStore).add(ban("203.0.113.10", null));
      await cliStore.close();
      await defense.refresh();
      assert.deepEqual(defense.admit(src), { ok: true });
      assert.deepEqual(defense.admit(parseIp("203.0.113.10")!), { ok: false, reason: "banned" });
    } finally {
      await defense.stop();
      await store.close();
    }
  }));

Deno.test("SourceDefense: recently authenticated sources are persisted and exempt after a restart", () =>
  withDir(async (dir) => {
    const cfg = RateLimitSchema.parse({ fail_burst: 2, ban_time: "1h", proven_ttl: "1h" });
    const user = parseIp("198.51.100.4")!;
    const other = parseIp("198.51.100.5")!;
    let store = await KvStateStore.open(dir);
    let defense = new SourceDefense(cfg, store, { refreshMs: 0 });
    await defense.start();
    defense.succeeded(user);
    await defense.stop();
    await store.close();

    store = await KvStateStore.open(dir);
    defense = new SourceDefense(cfg, store, { refreshMs: 0 });
    try {
      await defense.start();
      let userBan: Ban | null = null;
      let otherBan: Ban | null = null;
      for (let i = 0; i < 10; i++) {
        userBan ??= defense.failed(user, "bad_auth", true);
        otherBan ??= defense.failed(other, "bad_auth", true);
      }
      assert.equal(userBan, null, "the user who authenticated before the restart is not banned");
      assert.ok(otherBan, "a source that never authenticated is (the check can fail)");
    } finally {
      await defense.stop();
      await store.close();
    }
  }));

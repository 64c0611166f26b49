import assert from "node:assert/strict";
import { KvStateStore } from "../../src/state/kv.ts";
import { RedisStateStore } from "../../src/state/redis.ts";
import type { StateStore } from "../../src/state/store.ts";
import { startRedis } from "../_helpers/redis.ts";
import { skipWithout } from "../_helpers/system.ts";

async function exerciseRecords(store: StateStore): Promise<void> {
  const now = Date.now();
  await store.set("bans", "10.0.0.1", { reason: "flood" }, now + 60_000);
  await store.set("bans", "10.0.0.2", { reason: "old" }, now - 1);
  await store.set("bans", "10.0.0.3", { reason: "forever" });
  assert.deepEqual((await store.get("bans", "10.0.0.1"))?.value, { reason: "flood" });
  assert.equal(await store.get("bans", "10.0.0.2"), undefined, "expired records are absent");
  const listed = (await store.list("bans", now)).map((r) => r.key).sort();
  assert.deepEqual(listed, ["10.0.0.1", "10.0.0.3"]);
  assert.equal(await store.delete("bans", "10.0.0.1"), true);
  assert.equal(await store.delete("bans", "10.0.0.1"), false);
  assert.equal(await store.increment("uses", "7", 1), 1);
  assert.equal(await store.increment("uses", "7", 2), 3);
}

Deno.test("Deno KV store: records, expiry, counters, nonces survive reopen", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let store = await KvStateStore.open(dir);
    await exerciseRecords(store);
    const nonce = crypto.getRandomValues(new Uint8Array(16));
    await store.claimNonces([{ nonce, expiresAt: Date.now() + 60_000 }]);
    await store.claimNonces([{
      nonce: new Uint8Array(16),
      expiresAt: Date.now() - 10,
    }]);
    await store.close();
    store = await KvStateStore.open(dir);
    const loaded = [];
    for await (const n of store.loadNonces(Date.now())) loaded.push(n);
    assert.equal(loaded.length, 1, "only the unexpired nonce comes back");
    assert.deepEqual(loaded[0].nonce, nonce);
    assert.equal((await store.get("bans", "10.0.0.3"))?.value !== undefined, true);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Redis store: SET NX nonce claims are shared by two nodes", {
  ignore: skipWithout("redis-server", "redis-server"),
}, async () => {
  const redis = await startRedis();
  const a = await RedisStateStore.connect(redis.url, "t:");
  const b = await RedisStateStore.connect(redis.url, "t:");
  try {
    await exerciseRecords(a);
    const n1 = crypto.getRandomValues(new Uint8Array(16));
    const n2 = crypto.getRandomValues(new Uint8Array(16));
    const exp = Date.now() + 30_000;
    assert.deepEqual(await a.claimNonces([{ nonce: n1, expiresAt: exp }]), [true]);
    assert.deepEqual(
      await b.claimNonces([{ nonce: n1, expiresAt: exp }, { nonce: n2, expiresAt: exp }]),
      [false, true],
      "node b must refuse the nonce node a accepted",
    );
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
});

Deno.test("Deno KV store: overlapping increments of many counters commit together, each exact", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await KvStateStore.open(dir);
    // 23 counters (more than one commit's worth), three rounds each, all at once, with
    // expiries on some; then a second wave while the first is committing.
    const keys = Array.from({ length: 23 }, (_, i) => String(i));
    const expiry = Date.now() + 60_000;
    const wave = (round: number) =>
      keys.flatMap((k, i) =>
        [1, 2, 3].map((d) =>
          store.increment(i % 2 ? "uses" : "uses_day:x", k, d * round, i % 3 ? expiry : undefined)
        )
      );
    const first = wave(1);
    const second = wave(10);
    const v1 = await Promise.all(first);
    const v2 = await Promise.all(second);
    assert.deepEqual(v1, keys.flatMap(() => [1, 3, 6]));
    assert.deepEqual(v2, keys.flatMap(() => [16, 36, 66]));
    for (const [i, k] of keys.entries()) {
      assert.equal(await store.increment(i % 2 ? "uses" : "uses_day:x", k, 0), 66, k);
    }
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Deno KV store: overlapping increments of one counter act as if one after another", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await KvStateStore.open(dir);
    const deltas = [1, 1, -1, 5, 1, 0, 2, -3];
    const values = await Promise.all(deltas.map((d) => store.increment("uses", "9", d)));
    // Each caller sees the value after its own delta, in call order (a reservation's limit
    // check depends on it).
    let running = 0;
    assert.deepEqual(values, deltas.map((d) => running += d));
    assert.equal(await store.increment("uses", "9", 0), 6);
    // Another counter is not mixed in.
    const [a, b] = await Promise.all([
      store.increment("uses", "10", 4),
      store.increment("uses_day:x", "9", 1),
    ]);
    assert.deepEqual([a, b], [4, 1]);
    // Many at once commit quickly and lose nothing.
    await Promise.all(Array.from({ length: 400 }, () => store.increment("uses", "11", 1)));
    assert.equal(await store.increment("uses", "11", 0), 400);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

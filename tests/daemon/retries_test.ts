import assert from "node:assert/strict";
import { KvStateStore } from "../../src/state/kv.ts";
import { RetryCache } from "../../src/daemon/retries.ts";

async function withStore(fn: (dir: string, store: KvStateStore) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-retries-" });
  const store = await KvStateStore.open(dir);
  try {
    await fn(dir, store);
  } finally {
    await store.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

const id = (n: number) => new Uint8Array(16).fill(n);
const REPLY = { status: 0, exitCode: 0, body: { data: "ran once" } };

Deno.test("retry cache: new, then running, then the first reply; per user", () =>
  withStore(async (_dir, store) => {
    const now = 1_000_000;
    const cache = new RetryCache(store, 16, () => now);
    assert.deepEqual(await cache.begin(1, id(1), now + 30_000), { kind: "new" });
    assert.deepEqual(await cache.begin(1, id(1), now + 30_000), { kind: "running" });
    assert.deepEqual(await cache.begin(2, id(1), now + 30_000), { kind: "new" }, "another user");
    await cache.finish(1, id(1), REPLY);
    assert.deepEqual(await cache.begin(1, id(1), now + 30_000), { kind: "done", reply: REPLY });
    cache.abandon(2, id(1));
    assert.deepEqual(await cache.begin(2, id(1), now + 30_000), { kind: "new" }, "abandoned");
  }));

Deno.test("retry cache: a finished reply survives a restart (state store)", () =>
  withStore(async (dir, store) => {
    const now = 1_000_000;
    const first = new RetryCache(store, 16, () => now);
    await first.begin(1, id(8), Date.now() + 30_000);
    await first.finish(1, id(8), REPLY);
    await store.close();
    const reopened = await KvStateStore.open(dir);
    try {
      const second = new RetryCache(reopened, 16, () => now);
      assert.deepEqual(await second.begin(1, id(8), now + 30_000), { kind: "done", reply: REPLY });
    } finally {
      await reopened.close();
    }
  }));

Deno.test("retry cache: memory is bounded; a dropped entry is found in the store", () =>
  withStore(async (_dir, store) => {
    const cache = new RetryCache(store, 4);
    const later = Date.now() + 30_000;
    for (let i = 0; i < 20; i++) {
      await cache.begin(1, id(i), later);
      await cache.finish(1, id(i), { ...REPLY, body: { data: i } });
    }
    assert.ok(cache.size <= 4, `size ${cache.size}`);
    const r = await cache.begin(1, id(0), later);
    assert.deepEqual(r, { kind: "done", reply: { ...REPLY, body: { data: 0 } } });
  }));

Deno.test("retry cache: a record someone else wrote into the store is no answer", () =>
  withStore(async (_dir, store) => {
    const cache = new RetryCache(store, 16);
    const later = Date.now() + 30_000;
    // Find the key the cache uses by finishing one request, then overwrite it with junk.
    await cache.begin(1, id(3), later);
    await cache.finish(1, id(3), REPLY);
    const [rec] = await store.list<unknown>("retry", Date.now());
    for (const junk of [{ status: "ok" }, { status: 0, exitCode: 0, body: "x".repeat(9000) }, 42]) {
      await store.set("retry", rec.key, junk, later);
      const fresh = new RetryCache(store, 16);
      const r = await fresh.begin(1, id(3), later);
      assert.notEqual(r.kind, "done", JSON.stringify(junk));
    }
  }));

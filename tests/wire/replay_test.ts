import assert from "node:assert/strict";
import { ReplayGuard } from "../../src/wire/mod.ts";

function nonce(i: number): Uint8Array {
  const n = new Uint8Array(16);
  new DataView(n.buffer).setUint32(12, i);
  return n;
}

Deno.test("a nonce is accepted once; the replay is refused", () => {
  let now = 1_000_000;
  const g = new ReplayGuard({ skewMs: 30_000, clock: () => now });
  assert.equal(g.checkAndAdd(nonce(1), now), null);
  assert.equal(g.checkAndAdd(nonce(1), now), "replay");
  now += 29_000;
  assert.equal(g.check(nonce(1), now - 29_000), "replay", "still remembered inside the window");
  assert.equal(g.stats.replays, 2);
});

Deno.test("timestamps outside the window are refused; a nonce is remembered as long as its timestamp is valid", () => {
  let now = 5_000_000;
  const g = new ReplayGuard({ skewMs: 30_000, clock: () => now });
  assert.equal(g.check(nonce(1), now - 30_001), "timestamp_old");
  assert.equal(g.check(nonce(1), now + 30_001), "timestamp_future");
  assert.equal(g.check(nonce(1), Number.NaN), "timestamp_old");
  // A future-dated packet: remembered until its timestamp leaves the window.
  const ts = now + 30_000;
  assert.equal(g.checkAndAdd(nonce(2), ts), null);
  for (const step of [10_000, 30_000, 59_000, 60_000]) {
    now = 5_000_000 + step;
    assert.equal(g.check(nonce(2), ts), "replay", `at +${step}`);
  }
  now = 5_000_000 + 60_001;
  assert.equal(g.check(nonce(2), ts), "timestamp_old");
  now += 10_000;
  g.check(nonce(3), now);
  assert.equal(g.size, 0, "expired entries are dropped");
});

Deno.test("the cache is bounded by the window: steady traffic does not grow it", () => {
  let now = 0;
  const g = new ReplayGuard({ skewMs: 1_000, maxEntries: 10_000, clock: () => now });
  for (let i = 0; i < 50_000; i++) {
    now = i; // 1 packet per ms
    assert.equal(g.checkAndAdd(nonce(i), now), null);
  }
  assert.ok(g.size <= 1_000 + 1_000 / 16 + 2, `size ${g.size}`);
});

Deno.test("when full it fails closed with replay_cache_full, and recovers as entries expire", () => {
  let now = 1_000_000;
  const g = new ReplayGuard({ skewMs: 1_000, maxEntries: 100, clock: () => now });
  for (let i = 0; i < 100; i++) assert.equal(g.checkAndAdd(nonce(i), now), null);
  assert.equal(g.checkAndAdd(nonce(1000), now), "replay_cache_full");
  assert.equal(g.add(nonce(1001), now), false);
  assert.equal(g.check(nonce(5), now), "replay", "a replay is still a replay when full");
  assert.equal(g.stats.full, 1);
  now += 1_100;
  assert.equal(g.checkAndAdd(nonce(1000), now), null, "room again once the window moved");
});

Deno.test("entries can be exported and imported (restart keeps refusing replays)", () => {
  let now = 2_000_000;
  const a = new ReplayGuard({ skewMs: 30_000, clock: () => now });
  for (let i = 0; i < 10; i++) a.checkAndAdd(nonce(i), now - i * 1000);
  const saved = [...a.entries()];
  assert.equal(saved.length, 10);
  assert.deepEqual(saved[3], { nonce: nonce(3), expiresAt: now - 3000 + 30_000 });
  now += 5_000;
  const b = new ReplayGuard({ skewMs: 30_000, clock: () => now });
  for (const e of saved) assert.equal(b.restore(e.nonce, e.expiresAt), true);
  for (let i = 0; i < 10; i++) assert.equal(b.check(nonce(i), now - 5_000 - i * 1000), "replay");
  // Already-expired entries are ignored on import.
  const c = new ReplayGuard({ skewMs: 30_000, clock: () => now });
  assert.equal(c.restore(nonce(1), now - 1), true);
  assert.equal(c.size, 0);
});

Deno.test("a big clock jump empties the cache in one pass", () => {
  let now = 0;
  const g = new ReplayGuard({ skewMs: 100, clock: () => now });
  for (let i = 0; i < 100; i++) g.checkAndAdd(nonce(i), now);
  now = 10 ** 12;
  assert.equal(g.checkAndAdd(nonce(1), now), null);
  assert.equal(g.size, 1);
});

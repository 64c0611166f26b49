import assert from "node:assert/strict";
import { SlotBuckets } from "../../src/policy/slot_buckets.ts";

Deno.test("slot buckets: a destination gets its burst, then its rate", () => {
  const b = new SlotBuckets(10, 5, 1024);
  let ok = 0;
  for (let i = 0; i < 20; i++) if (b.take("192.0.2.7", 1000)) ok++;
  assert.equal(ok, 5);
  // 300 ms later: 3 tokens back.
  ok = 0;
  for (let i = 0; i < 20; i++) if (b.take("192.0.2.7", 1300)) ok++;
  assert.equal(ok, 3);
  // Never more than the burst, however long it was quiet.
  ok = 0;
  for (let i = 0; i < 20; i++) if (b.take("192.0.2.7", 1_000_000)) ok++;
  assert.equal(ok, 5);
});

Deno.test("slot buckets: a clock that goes back refills nothing", () => {
  const b = new SlotBuckets(10, 2, 1024);
  assert.ok(b.take("192.0.2.7", 5000));
  assert.ok(b.take("192.0.2.7", 5000));
  assert.ok(!b.take("192.0.2.7", 4000));
  assert.ok(!b.take("192.0.2.7", 5000));
});

Deno.test("slot buckets: a flood to random destinations does not spend a real one's bucket", () => {
  const b = new SlotBuckets(20, 40, 65536);
  let n = 0;
  for (let i = 0; i < 100_000; i++) {
    b.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 1000);
  }
  // 100k random destinations over 65,536 slots: a slot is hit ~1.5 times, far below 40.
  for (let i = 0; i < 30; i++) if (b.take("192.0.2.7", 1000)) n++;
  assert.equal(n, 30);
  assert.equal(b.slots, 65536);
});

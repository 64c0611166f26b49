/** Derived ports: deterministic, in range, distinct, and different per user and per window. */
import assert from "node:assert/strict";
import { hopPort, knockSequence, msToNextWindow, windowOf } from "../../src/stealth/derive.ts";

const secret = new Uint8Array(32).fill(7);

Deno.test("derive: sequences are stable, distinct, in range; they change with user and window", () => {
  const a = knockSequence(secret, 1, 100, 4, [40000, 40099]);
  assert.deepEqual(knockSequence(secret, 1, 100, 4, [40000, 40099]), a);
  assert.equal(new Set(a).size, 4);
  assert.ok(a.every((p) => p >= 40000 && p <= 40099));
  assert.notDeepEqual(knockSequence(secret, 2, 100, 4, [40000, 40099]), a);
  assert.notDeepEqual(knockSequence(secret, 1, 101, 4, [40000, 40099]), a);
  assert.notDeepEqual(knockSequence(new Uint8Array(32), 1, 100, 4, [40000, 40099]), a);
  assert.deepEqual(knockSequence(secret, 1, 100, 3, [7, 9]).sort(), [7, 8, 9]);
  assert.throws(() => knockSequence(secret, 1, 100, 3, [7, 8]), /no 3 free ports/);
});

Deno.test("derive: hop ports stay in range and move between windows", () => {
  const ports = Array.from({ length: 50 }, (_, w) => hopPort(secret, w, [50000, 50999]));
  assert.ok(ports.every((p) => p >= 50000 && p <= 50999));
  assert.ok(new Set(ports).size > 40, "50 windows give (almost) 50 ports");
  assert.equal(hopPort(secret, 3, [50000, 50999]), ports[3]);
  assert.equal(windowOf(12_999, 1000), 12);
  assert.equal(msToNextWindow(12_250, 1000), 750);
});

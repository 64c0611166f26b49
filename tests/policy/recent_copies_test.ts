import assert from "node:assert/strict";
import { RecentCopies } from "../../src/policy/recent_copies.ts";

const mac = (seed: number) => Uint8Array.from({ length: 16 }, (_, i) => (seed * 31 + i * 7) & 255);

Deno.test("recent copies: the same mac1 within the window is a copy, every time", () => {
  const c = new RecentCopies(1024, 2000);
  assert.equal(c.seen(mac(1), 1000), false);
  assert.equal(c.seen(mac(1), 1001), true);
  assert.equal(c.seen(mac(1), 2999), true);
  // The window runs from the first sighting: the copies did not extend it.
  assert.equal(c.seen(mac(1), 3001), false);
});

Deno.test("recent copies: another datagram, a late one or a bad length is not a copy", () => {
  const c = new RecentCopies(1024, 2000);
  assert.equal(c.seen(mac(1), 1000), false);
  assert.equal(c.seen(mac(2), 1000), false);
  const flipped = mac(1);
  flipped[15] ^= 1;
  assert.equal(c.seen(flipped, 1000), false);
  assert.equal(c.seen(new Uint8Array(15), 1000), false);
  assert.equal(c.seen(new Uint8Array(15), 1000), false);
});

Deno.test("recent copies: a flood of distinct datagrams is never taken for copies", () => {
  const c = new RecentCopies(1 << 16, 2000);
  const m = new Uint8Array(16);
  const v = new DataView(m.buffer);
  let copies = 0;
  for (let i = 0; i < 200_000; i++) {
    v.setUint32(0, Math.imul(i, 2654435761));
    v.setUint32(8, i);
    if (c.seen(m, 1000)) copies++;
  }
  assert.equal(copies, 0);
});

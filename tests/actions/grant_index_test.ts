/** GrantIndex: lookups by address, replacement, deletion, sweeping and its rate limit. */
import assert from "node:assert/strict";
import { GrantIndex } from "../../src/actions/grant_index.ts";

interface Rec {
  key: string;
  address: string;
  expiresAt: number;
}

function keys(it: Iterable<Rec>): string[] {
  return [...it].map((r) => r.key).sort();
}

Deno.test("records are found by address; a key moved to another address leaves the old one", () => {
  const index = new GrantIndex<Rec>();
  index.set({ key: "a", address: "192.0.2.1", expiresAt: 100 });
  index.set({ key: "b", address: "192.0.2.1", expiresAt: 200 });
  index.set({ key: "c", address: "2001:db8::1", expiresAt: 300 });
  assert.deepEqual(keys(index.forAddress("192.0.2.1")), ["a", "b"]);
  assert.deepEqual(keys(index.forAddress("192.0.2.9")), []);
  index.set({ key: "b", address: "2001:db8::1", expiresAt: 250 });
  assert.deepEqual(keys(index.forAddress("192.0.2.1")), ["a"]);
  assert.deepEqual(keys(index.forAddress("2001:db8::1")), ["b", "c"]);
  assert.equal(index.get("b")?.expiresAt, 250);
  assert.equal(index.size, 3);
  assert.equal(index.delete("a"), true);
  assert.equal(index.delete("a"), false);
  assert.deepEqual(keys(index.forAddress("192.0.2.1")), []);
  assert.deepEqual(keys(index.values()), ["b", "c"]);
});

Deno.test("sweep drops expired records, at most once per interval", () => {
  const index = new GrantIndex<Rec>(1000);
  index.set({ key: "old", address: "192.0.2.1", expiresAt: 10 });
  index.set({ key: "new", address: "192.0.2.1", expiresAt: 5000 });
  index.sweep(20);
  assert.deepEqual(keys(index.values()), ["new"]);
  index.set({ key: "soon", address: "192.0.2.2", expiresAt: 30 });
  index.sweep(500); // within the interval: nothing swept yet
  assert.equal(index.size, 2);
  index.sweep(1020);
  assert.deepEqual(keys(index.values()), ["new"]);
  assert.deepEqual(keys(index.forAddress("192.0.2.2")), []);
  index.sweep(6000);
  assert.equal(index.size, 0);
});

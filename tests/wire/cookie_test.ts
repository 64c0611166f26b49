import assert from "node:assert/strict";
import { COOKIE_BUCKET_MS, makeCookie, verifyCookie } from "../../src/wire/mod.ts";

const secret = new Uint8Array(32).fill(9);
const T = 1_750_000_020_000;

Deno.test("a cookie verifies for its address and port within two buckets", () => {
  const c = makeCookie(secret, "192.0.2.1", 40000, T);
  assert.equal(c.length, 16);
  assert.ok(verifyCookie(secret, "192.0.2.1", 40000, c, T));
  assert.ok(verifyCookie(secret, "192.0.2.1", 40000, c, T + COOKIE_BUCKET_MS));
  const bucketStart = Math.floor(T / COOKIE_BUCKET_MS) * COOKIE_BUCKET_MS;
  assert.ok(!verifyCookie(secret, "192.0.2.1", 40000, c, bucketStart + 2 * COOKIE_BUCKET_MS));
  assert.ok(
    !verifyCookie(secret, "192.0.2.1", 40000, c, bucketStart - 1),
    "not valid before it was made",
  );
});

Deno.test("a cookie does not verify for another address, port, secret or with a bit flipped", () => {
  const c = makeCookie(secret, "2001:db8::1", 5000, T);
  assert.ok(!verifyCookie(secret, "2001:db8::2", 5000, c, T));
  assert.ok(!verifyCookie(secret, "2001:db8::1", 5001, c, T));
  assert.ok(!verifyCookie(new Uint8Array(32).fill(8), "2001:db8::1", 5000, c, T));
  for (let bit = 0; bit < 128; bit++) {
    const x = c.slice();
    x[bit >> 3] ^= 1 << (bit & 7);
    assert.ok(!verifyCookie(secret, "2001:db8::1", 5000, x, T));
  }
  assert.ok(!verifyCookie(secret, "2001:db8::1", 5000, c.subarray(0, 15), T));
  assert.ok(!verifyCookie(secret, "2001:db8::1", 70000, c, T));
});

/**
 * The login throttle: per source, so an attacker's failures do not lock out logins from
 * elsewhere; a global cap over all sources that a trusted source (one that logged in
 * before) still passes; bounded tables; IPv6 counted by /64.
 * @module
 */
import assert from "node:assert/strict";
import { Sessions } from "../../src/web/auth.ts";
import {
  LoginThrottle,
  MAX_FAILURES_GLOBAL,
  MAX_FAILURES_PER_SOURCE,
  MAX_SOURCES,
  sourceKey,
} from "../../src/web/throttle.ts";

const TOKEN = "the-right-token-of-enough-length";

Deno.test("login throttle: a source that guesses is throttled; the operator elsewhere still logs in", () => {
  let now = 1_000_000;
  const s = new Sessions(TOKEN, () => now);
  for (let i = 0; i < MAX_FAILURES_PER_SOURCE; i++) {
    assert.equal(s.login(`guess-${i}`, "203.0.113.9"), undefined);
  }
  assert.equal(s.login(TOKEN, "203.0.113.9"), undefined, "the guessing source waits");
  assert.ok(s.login(TOKEN, "198.51.100.1"), "another source logs in");
  now += 60_000;
  assert.ok(s.login(TOKEN, "203.0.113.9"), "after its minute the source may try again");
});

Deno.test("login throttle: the global cap stops new sources but not one that logged in before", () => {
  let now = 5_000_000;
  const s = new Sessions(TOKEN, () => now);
  assert.ok(s.login(TOKEN, "198.51.100.1"), "the operator logged in earlier");
  // Many sources, each below its own limit, together reach the global cap.
  for (let i = 0; i < MAX_FAILURES_GLOBAL; i++) {
    const src = `10.${(i >> 8) & 255}.${i & 255}.${Math.floor(i / 5) % 250}`;
    assert.equal(s.login("wrong", src), undefined);
  }
  assert.equal(s.login(TOKEN, "192.0.2.200"), undefined, "a new source waits for the minute");
  assert.ok(s.login(TOKEN, "198.51.100.1"), "the operator's source still gets in");
  now += 60_000;
  assert.ok(s.login(TOKEN, "192.0.2.200"), "the next minute everyone may try again");
});

Deno.test("login throttle: the source table is bounded; IPv6 sources count per /64", () => {
  let now = 0;
  const t = new LoginThrottle(() => now);
  for (let i = 0; i < MAX_SOURCES * 3; i++) {
    t.failed(`2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`);
    if (i % 100 === 0) now += 1000;
  }
  assert.ok(t.trackedSources <= MAX_SOURCES, String(t.trackedSources));
  assert.equal(sourceKey("2001:db8:0:1::1"), sourceKey("2001:0db8:0000:0001:ffff:1:2:3"));
  assert.notEqual(sourceKey("2001:db8:0:1::1"), sourceKey("2001:db8:0:2::1"));
  assert.equal(sourceKey("::ffff:192.0.2.1"), "192.0.2.1");
  assert.equal(sourceKey("::1"), "0:0:0:0::/64");
  // One /64 is one source: its hosts share the limit.
  const u = new LoginThrottle(() => 0);
  for (let i = 0; i < MAX_FAILURES_PER_SOURCE; i++) u.failed(`2001:db8:0:7::${i + 1}`);
  assert.equal(u.allowed("2001:db8:0:7::ffff"), false);
  assert.equal(u.allowed("2001:db8:0:8::1"), true);
});

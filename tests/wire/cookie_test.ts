/** CookieChecker (server) and openCookieReply (client): mac2 and cookie replies, wire v2. */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  COOKIE_REPLY_LEN,
  CookieChecker,
  cookieFor,
  openCookieReply,
  sealCookieReply,
  sealRequest,
} from "../../src/wire/mod.ts";
import { AUTHS, lookup, NOW, opener, otherServerPublic, serverPublic } from "./_fixtures.ts";

const hmac = AUTHS.hmac;
const IP = "192.0.2.1";
const PORT = 40000;

function request(opts: { cookie?: Uint8Array; retryId?: Uint8Array; padTo?: number } = {}) {
  return sealRequest(serverPublic, hmac.auth, {
    type: "request",
    userId: hmac.userId,
    actionId: 1,
    retryId: opts.retryId,
  }, { now: NOW, cookie: opts.cookie, padTo: opts.padTo });
}

/** A checker on a clock the test moves. */
function checker(rotateMs = 120_000) {
  const t = { now: NOW };
  return { t, c: new CookieChecker(serverPublic, { clock: () => t.now, rotateMs }) };
}

/** The cookie the checker hands `ip`:`port`, learned as a client does. */
function learn(c: CookieChecker, ip = IP, port = PORT) {
  const first = request();
  const reply = c.cookieReply(first.datagram, ip, port);
  assert.ok(reply);
  const opened = openCookieReply(serverPublic, first.mac1, reply);
  assert.ok(opened);
  return { first, reply, opened };
}

Deno.test("cookie round trip: reply opens with the request's mac1, mac2 then proves the source", () => {
  const { c } = checker();
  const { first, opened } = learn(c);
  assert.equal(c.checkMac2(first.datagram, IP, PORT), false); // all-zero mac2
  assert.deepEqual(opened.observed, { ip: IP, port: PORT });
  const second = request({ cookie: opened.cookie, retryId: first.retryId });
  assert.ok(c.checkMac2(second.datagram, IP, PORT));
  // mac2 does not disturb the rest: the request still opens, same retry id, new nonce.
  const r = opener().open(second.datagram, lookup);
  assert.ok(r.ok);
  assert.deepEqual(r.msg.retryId, first.retryId);
  assert.notDeepEqual(r.msg.nonce, first.requestId);
});

Deno.test("mac2 is valid only for the address and port it was made for", () => {
  const { c } = checker();
  const { opened } = learn(c);
  const d = request({ cookie: opened.cookie }).datagram;
  assert.ok(c.checkMac2(d, IP, PORT));
  assert.equal(c.checkMac2(d, "192.0.2.2", PORT), false);
  assert.equal(c.checkMac2(d, IP, PORT + 1), false);
  assert.equal(c.checkMac2(d, "::ffff:192.0.2.1", PORT), true); // the same IPv4 address
  assert.equal(c.checkMac2(d, "2001:db8::1", PORT), false);
  assert.equal(c.checkMac2(d, "not an ip", PORT), false);
  assert.equal(c.checkMac2(d, IP, 70000), false);
  // Another server's checker (another secret) refuses it.
  assert.equal(new CookieChecker(serverPublic, { clock: () => NOW }).checkMac2(d, IP, PORT), false);
});

Deno.test("IPv6 source: observed address and mac2", () => {
  const { c } = checker();
  const { opened } = learn(c, "2001:db8::7", 443);
  assert.deepEqual(opened.observed, { ip: "2001:db8::7", port: 443 });
  const d = request({ cookie: opened.cookie }).datagram;
  assert.ok(c.checkMac2(d, "2001:db8::7", 443));
  assert.equal(c.checkMac2(d, "2001:db8::8", 443), false);
});

Deno.test("mac2 lives one rotation: valid by the previous secret after one, not after two", () => {
  const R = 120_000;
  const { t, c } = checker(R);
  t.now = Math.floor(NOW / R) * R + R - 1; // just before a rotation
  const { opened } = learn(c);
  const d = request({ cookie: opened.cookie }).datagram;
  assert.ok(c.checkMac2(d, IP, PORT));
  t.now += 1; // rotated: now the previous secret
  assert.ok(c.checkMac2(d, IP, PORT));
  t.now += R - 1; // still the previous
  assert.ok(c.checkMac2(d, IP, PORT));
  t.now += 1; // rotated twice: gone
  assert.equal(c.checkMac2(d, IP, PORT), false);

  // A long silence (several periods) drops both secrets at once.
  const b = checker(R);
  const got = learn(b.c);
  const d2 = request({ cookie: got.opened.cookie }).datagram;
  b.t.now += 5 * R;
  assert.equal(b.c.checkMac2(d2, IP, PORT), false);
  // A clock that goes back does not rotate (nor revive anything).
  const back = checker(R);
  const g3 = learn(back.c);
  back.t.now -= 3 * R;
  assert.ok(back.c.checkMac2(request({ cookie: g3.opened.cookie }).datagram, IP, PORT));
});

Deno.test("a cookie reply is never larger than the request and looks random", () => {
  const { c } = checker();
  const seen = new Set<string>();
  for (const padTo of [undefined, 200, 1200, 1400]) {
    const r = request({ padTo });
    const reply = c.cookieReply(r.datagram, IP, PORT)!;
    assert.equal(reply.length, COOKIE_REPLY_LEN);
    assert.ok(reply.length <= r.datagram.length);
    seen.add(reply.subarray(0, 4).toHex());
  }
  // Same request twice: different bytes (fresh salt), so no fixed prefix or magic.
  const r = request();
  const a = c.cookieReply(r.datagram, IP, PORT)!;
  const b = c.cookieReply(r.datagram, IP, PORT)!;
  assert.notDeepEqual(a, b);
  assert.equal(seen.size, 4);
  // A datagram too short for a reply gets none.
  assert.equal(c.cookieReply(new Uint8Array(COOKIE_REPLY_LEN - 1), IP, PORT), undefined);
});

Deno.test("no cookie reply without a valid v2 mac1 (garbage, other server, v1)", () => {
  const { c } = checker();
  assert.equal(c.cookieReply(crypto.getRandomValues(new Uint8Array(200)), IP, PORT), undefined);
  const other = sealRequest(otherServerPublic, hmac.auth, {
    type: "request",
    userId: 1,
    actionId: 1,
  }, { now: NOW });
  assert.equal(c.cookieReply(other.datagram, IP, PORT), undefined);
  const v1 = sealRequest(serverPublic, hmac.auth, { type: "request", userId: 1, actionId: 1 }, {
    now: NOW,
    version: 1,
  });
  assert.equal(c.cookieReply(v1.datagram, IP, PORT), undefined);
  const insecure = sealRequest(serverPublic, hmac.auth, {
    type: "request",
    userId: 1,
    actionId: 1,
  }, { now: NOW, insecure: true });
  assert.equal(c.cookieReply(insecure.datagram, IP, PORT), undefined);
  const ic = new CookieChecker(serverPublic, { clock: () => NOW, insecure: true });
  assert.ok(ic.cookieReply(insecure.datagram, IP, PORT));
  assert.equal(c.cookieReply(request().datagram, "nope", PORT), undefined);
});

Deno.test("a cookie reply for request A does not open with request B's mac1 or another key", () => {
  const { c } = checker();
  const a = request();
  const b = request();
  const reply = c.cookieReply(a.datagram, IP, PORT)!;
  assert.ok(openCookieReply(serverPublic, a.mac1, reply));
  assert.equal(openCookieReply(serverPublic, b.mac1, reply), null);
  assert.equal(openCookieReply(otherServerPublic, a.mac1, reply), null);
  // A sealed reply is not a cookie reply, and a cookie reply is not a sealed reply.
  const opened = opener().open(a.datagram, lookup);
  assert.ok(opened.ok);
  const sealed = opened.replier.seal({ status: 0, serverTime: NOW });
  assert.equal(openCookieReply(serverPublic, a.mac1, sealed), null);
  assert.equal(a.reply.open(reply).ok, false);
});

Deno.test("every bit flip and every truncation of a cookie reply is rejected", () => {
  const { c } = checker();
  const a = request();
  const reply = c.cookieReply(a.datagram, IP, PORT)!;
  for (let i = 0; i < reply.length * 8; i++) {
    const x = reply.slice();
    x[i >> 3] ^= 1 << (i & 7);
    assert.equal(openCookieReply(serverPublic, a.mac1, x), null, `bit ${i}`);
  }
  for (let n = 0; n < reply.length; n++) {
    assert.equal(openCookieReply(serverPublic, a.mac1, reply.subarray(0, n)), null);
  }
  const longer = new Uint8Array(reply.length + 1);
  longer.set(reply);
  assert.equal(openCookieReply(serverPublic, a.mac1, longer), null);
});

Deno.test("every bit flip of the mac2 area or the covered bytes breaks mac2", () => {
  const { c } = checker();
  const { opened } = learn(c);
  const d = request({ cookie: opened.cookie }).datagram;
  for (let i = 0; i < d.length * 8; i += 7) {
    const x = d.slice();
    x[i >> 3] ^= 1 << (i & 7);
    assert.equal(c.checkMac2(x, IP, PORT), false, `bit ${i}`);
  }
  for (let n = 0; n < d.length; n += 5) {
    assert.equal(c.checkMac2(d.subarray(0, n), IP, PORT), false);
  }
});

Deno.test("cookieFor and sealCookieReply are the pure forms of what the checker does", () => {
  const secret = new Uint8Array(32).fill(9);
  const k1 = cookieFor(secret, IP, PORT);
  assert.equal(k1.length, 16);
  assert.deepEqual(cookieFor(secret, "::ffff:" + IP, PORT), k1);
  assert.notDeepEqual(cookieFor(secret, IP, PORT + 1), k1);
  const a = request();
  const salt = new Uint8Array(16).fill(3);
  const r1 = sealCookieReply(serverPublic, a.mac1, k1, IP, PORT, salt);
  assert.deepEqual(sealCookieReply(serverPublic, a.mac1, k1, IP, PORT, salt), r1);
  assert.deepEqual(openCookieReply(serverPublic, a.mac1, r1), {
    cookie: k1,
    observed: { ip: IP, port: PORT },
  });
});

Deno.test("openCookieReply, checkMac2 and cookieReply never throw (fast-check)", () => {
  const { c } = checker();
  const mac1 = request().mac1;
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 1500 }),
      fc.string(),
      fc.integer({ min: -5, max: 70000 }),
      (d, ip, port) => {
        assert.equal(openCookieReply(serverPublic, mac1, d), null);
        assert.equal(c.checkMac2(d, ip, port), false);
        assert.equal(c.cookieReply(d, ip, port), undefined);
      },
    ),
    { numRuns: 500 },
  );
  // Random bytes of exactly the reply's size.
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: COOKIE_REPLY_LEN, maxLength: COOKIE_REPLY_LEN }),
      (d) => {
        assert.equal(openCookieReply(serverPublic, mac1, d), null);
      },
    ),
    { numRuns: 300 },
  );
});

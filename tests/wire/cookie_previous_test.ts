/** CookieChecker with a previous server key (rotation grace): which key seals the reply. */
import assert from "node:assert/strict";
import { CookieChecker, openCookieReply, sealRequest } from "../../src/wire/mod.ts";
import { AUTHS, NOW, otherServerPublic, serverPublic } from "./_fixtures.ts";

const hmac = AUTHS.hmac;

function requestTo(pub: Uint8Array) {
  return sealRequest(pub, hmac.auth, { type: "request", userId: hmac.userId, actionId: 1 }, {
    now: NOW,
    padTo: 200,
  });
}

Deno.test("cookie reply: a request for the previous key gets a reply sealed under that key", () => {
  // Current key: otherServerPublic; previous (still accepted): serverPublic.
  const c = new CookieChecker(otherServerPublic, {
    clock: () => NOW,
    previousPublic: serverPublic,
  });
  const old = requestTo(serverPublic);
  const reply = c.cookieReply(old.datagram, "192.0.2.1", 4000);
  assert.ok(reply);
  assert.equal(openCookieReply(otherServerPublic, old.mac1, reply), null);
  const opened = openCookieReply(serverPublic, old.mac1, reply);
  assert.ok(opened);
  // The cookie proves the source whatever key the next request is sealed to.
  const next = sealRequest(serverPublic, hmac.auth, {
    type: "request",
    userId: hmac.userId,
    actionId: 1,
  }, { now: NOW, padTo: 200, cookie: opened.cookie });
  assert.ok(c.checkMac2(next.datagram, "192.0.2.1", 4000));

  // The current key's requests are answered under the current key.
  const cur = requestTo(otherServerPublic);
  const r2 = c.cookieReply(cur.datagram, "192.0.2.1", 4000);
  assert.ok(r2 && openCookieReply(otherServerPublic, cur.mac1, r2));

  // Grace over: the previous key's requests get nothing; cookies already given stay valid.
  c.setPrevious(undefined);
  assert.equal(c.cookieReply(old.datagram, "192.0.2.1", 4000), undefined);
  assert.ok(c.checkMac2(next.datagram, "192.0.2.1", 4000));
});

Deno.test("cookie reply: without a previous key another key's request gets nothing", () => {
  const c = new CookieChecker(otherServerPublic, { clock: () => NOW });
  assert.equal(c.cookieReply(requestTo(serverPublic).datagram, "192.0.2.1", 4000), undefined);
  assert.throws(() => c.setPrevious(new Uint8Array(31)), TypeError);
});

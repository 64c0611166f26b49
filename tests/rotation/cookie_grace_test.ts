/**
 * Under load (`challenge_under_load`) during a server key rotation's grace period: a client
 * that still has the old key gets a cookie reply it can open (sealed under the old key), then
 * is served and learns the new key. Through a real {@linkcode Daemon} in process (recorded
 * replies), load forced as tests/daemon/attacks_test.ts does: failures from spoofed sources
 * put the source gate in pressure mode.
 */
import assert from "node:assert/strict";
import { openCookieReply, ReplyStatus, sealRequest } from "../../src/wire/mod.ts";
import { decodeReplyBody } from "../../src/wire/reply_body.ts";
import { CLIENT, inProcess } from "../daemon/_inprocess.ts";

let spoofN = 0;
const spoofed = (): Deno.NetAddr => ({
  transport: "udp",
  hostname: `10.9.${(spoofN >> 8) & 255}.${spoofN++ & 255}`,
  port: 40000,
});

/** Passes mac1 (old or new key), fails authentication. */
function badAuth(serverPublic: Uint8Array) {
  return sealRequest(serverPublic, { kind: "hmac", key: new Uint8Array(32).fill(9) }, {
    type: "request",
    userId: 1,
    actionId: 1,
  }, { now: Date.now(), padTo: 1200 });
}

Deno.test("rotation under load: an old-key client gets a cookie reply, is served and learns the new key", async () => {
  const p = await inProcess({
    top: { rate_limit: { pressure_fail_rate: 1 }, keys: { rotation_grace: "1h" } },
  });
  try {
    const oldKey = p.fx.serverPublic;
    const rotated = await p.daemon.rotateServer("main");
    const newKey = Uint8Array.fromBase64(rotated.public_key);
    assert.notDeepEqual(newKey, oldKey);

    // Load: failures from spoofed sources (sealed to either key) switch pressure mode on.
    for (let i = 0; i < 10; i++) p.deliver(badAuth(oldKey).datagram, spoofed());
    for (let i = 0; i < 10; i++) p.deliver(badAuth(newKey).datagram, spoofed());
    assert.ok(p.daemon.defense.pressure, "the daemon is loaded");
    const gated = p.daemon.counters.cookie_gate ?? 0;

    // The old-key client (p.seal seals to the fixture's, i.e. the old, key).
    const first = p.seal(1);
    const at = p.channel.sent.length;
    p.deliver(first.datagram, CLIENT);
    assert.equal(p.daemon.counters.cookie_gate, gated + 1, "not opened: asked for a cookie");
    const answer = (await p.replies(at + 1))[at];
    assert.ok(answer, "the old-key client is answered under load");
    assert.equal(openCookieReply(newKey, first.mac1, answer), null, "not under the new key");
    const cookie = openCookieReply(oldKey, first.mac1, answer);
    assert.ok(cookie, "a cookie reply the old-key client opens");

    // With the cookie it is proven: opened under the previous key, served, told the new key.
    const second = p.seal(1, undefined, { cookie: cookie.cookie, retryId: first.retryId });
    p.deliver(second.datagram, CLIENT);
    const reply = (await p.replies(at + 2))[at + 1];
    const opened = second.reply.open(reply);
    assert.ok(opened.ok && opened.reply.status === ReplyStatus.Ok, "the old-key client is served");
    const body = decodeReplyBody(opened.reply.body);
    assert.equal(body.data, "pong");
    assert.equal(body.key?.pub, newKey.toBase64(), "the reply carries the new key");

    // A new-key client under load gets its cookie under the new key, as before.
    const fresh = sealRequest(newKey, { kind: "hmac", key: p.fx.aliceKey }, {
      type: "request",
      userId: 1,
      actionId: 1,
    }, { now: Date.now(), padTo: 1200 });
    const at2 = p.channel.sent.length;
    p.deliver(fresh.datagram, { ...CLIENT, port: 40001 });
    const answer2 = (await p.replies(at2 + 1))[at2];
    assert.ok(answer2 && openCookieReply(newKey, fresh.mac1, answer2), "new key: cookie reply");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("rotation under load: after the grace period the old key gets no cookie reply", async () => {
  const p = await inProcess(
    {
      top: { rate_limit: { pressure_fail_rate: 1 }, keys: { rotation_grace: "1s" } },
    },
    {},
    true,
  );
  try {
    const oldKey = p.fx.serverPublic;
    await p.daemon.rotateServer("main");
    // The grace period ends; the daemon's sync (each second) rebuilds without the old key.
    while (p.daemon.runtime.servers.get("main")?.previous !== undefined) {
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < 20; i++) p.deliver(badAuth(oldKey).datagram, spoofed());
    const first = p.seal(1);
    const at = p.channel.sent.length;
    p.deliver(first.datagram, CLIENT);
    await p.replies(at + 1, 300);
    assert.equal(p.channel.sent.length, at, "silence for the retired key");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

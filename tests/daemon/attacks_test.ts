/**
 * The attacker of DESIGN §9 against the daemon's real pipeline, in process: he knows the
 * server's public key, sends from any source address, copies, delays and resends packets.
 * Each test fails on the daemon before wire v2 (framed bans, stolen grants, clock-skew
 * answers to replays, actions run twice on a retry, public-key work for spoofed floods).
 */
import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { setupLogging, tapLogs } from "../../src/util/log.ts";
import { openCookieReply, ReplyStatus, sealRequest, SUITE_V1 } from "../../src/wire/mod.ts";
import { decodeReplyBody } from "../../src/wire/reply_body.ts";
import { OLD_CLIENT_REASON } from "../../src/daemon/pipeline.ts";
import { CLIENT, inProcess } from "./_inprocess.ts";

const at = (hostname: string, port = 40000): Deno.NetAddr => ({ transport: "udp", hostname, port });
const VICTIM = at("127.0.0.5");
const ATTACKER = at("127.0.0.66", 6666);
let spoofN = 0;
const spoofed = () => at(`10.${(spoofN >> 16) & 255}.${(spoofN >> 8) & 255}.${spoofN++ & 255}`);

/** A datagram that passes mac1 but fails authentication (anyone with the public key can). */
function badAuth(serverPublic: Uint8Array, cookie?: Uint8Array) {
  return sealRequest(serverPublic, { kind: "hmac", key: new Uint8Array(32).fill(9) }, {
    type: "request",
    userId: 1,
    actionId: 1,
  }, { now: Date.now(), padTo: 1200, cookie });
}

/** A daemon in process on a frozen clock (the cookie budgets never refill), quick to press. */
function frozenDaemon() {
  const frozen = Date.now();
  return inProcess({ top: { rate_limit: { pressure_fail_rate: 1 } } }, { clock: () => frozen });
}

/** Puts it under load: failures from spoofed sources switch pressure mode on. */
function pressOn(p: Awaited<ReturnType<typeof frozenDaemon>>): void {
  for (let i = 0; i < 20; i++) p.deliver(badAuth(p.fx.serverPublic).datagram, spoofed());
  assert.ok(p.daemon.defense.pressure);
}

Deno.test("attack: forged garbage from a user's address never gets that address banned", async () => {
  const p = await inProcess({ top: { rate_limit: { fail_burst: 5, ban_time: "1h" } } });
  try {
    for (let i = 0; i < 25; i++) p.deliver(crypto.getRandomValues(new Uint8Array(300)), VICTIM);
    for (let i = 0; i < 25; i++) p.deliver(badAuth(p.fx.serverPublic).datagram, VICTIM);
    assert.equal(p.daemon.defense.gate.bans(Date.now()).length, 0, "nobody banned");
    // The victim's own request later is served (tokens refill; no ban stands in the way).
    await new Promise((r) => setTimeout(r, 1100));
    const req = p.seal(1);
    p.deliver(req.datagram, VICTIM);
    const opened = req.reply.open((await p.replies(1))[0]);
    assert.ok(opened.ok && opened.reply.status === ReplyStatus.Ok);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("attack: a source that proved its address and keeps failing is banned", async () => {
  const p = await inProcess({
    top: { rate_limit: { fail_burst: 5, ban_time: "1h", pressure_fail_rate: 1 } },
  });
  try {
    // Failures from many spoofed sources put the daemon under load.
    for (let i = 0; i < 20; i++) p.deliver(badAuth(p.fx.serverPublic).datagram, spoofed());
    assert.ok(p.daemon.defense.pressure, "under load");
    // Under load a datagram without mac2 gets a cookie reply and is never opened.
    const probe = badAuth(p.fx.serverPublic);
    const before = p.channel.sent.length;
    p.deliver(probe.datagram, ATTACKER);
    const [answer] = (await p.replies(before + 1)).slice(before);
    const cookie = openCookieReply(p.fx.serverPublic, probe.mac1, answer);
    assert.ok(cookie, "a cookie reply");
    assert.equal(cookie.observed.ip, ATTACKER.hostname);
    // With a valid mac2 his failures count: he is banned.
    for (let i = 0; i < 10; i++) {
      p.deliver(badAuth(p.fx.serverPublic, cookie.cookie).datagram, ATTACKER);
    }
    const bans = p.daemon.defense.gate.bans(Date.now()).map((b) => b.source);
    assert.deepEqual(bans, [ATTACKER.hostname]);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("attack: under load a spoofed mac1-valid flood costs no open, a real user gets through", async () => {
  const p = await inProcess({ top: { rate_limit: { pressure_fail_rate: 1 } } });
  try {
    pressOn(p);
    const failedBefore = p.daemon.counters.drop_bad_auth ?? 0;
    for (let i = 0; i < 300; i++) p.deliver(badAuth(p.fx.serverPublic).datagram, spoofed());
    assert.equal(p.daemon.counters.drop_bad_auth ?? 0, failedBefore, "none of them was opened");
    assert.ok((p.daemon.counters.cookie_gate ?? 0) >= 300);
    // The user answers the cookie (as the client does by itself) and is served.
    const first = p.seal(1);
    const sent = p.channel.sent.length;
    p.deliver(first.datagram, CLIENT);
    const cookie = openCookieReply(
      p.fx.serverPublic,
      first.mac1,
      (await p.replies(sent + 1))[sent],
    );
    assert.ok(cookie);
    const second = p.seal(1, undefined, { cookie: cookie.cookie, retryId: first.retryId });
    p.deliver(second.datagram, CLIENT);
    const opened = second.reply.open((await p.replies(sent + 2))[sent + 1]);
    assert.ok(opened.ok && opened.reply.status === ReplyStatus.Ok, "the proven user is served");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("attack: a copied firewall request opens only the address sealed in it", async () => {
  setupLogging({ level: "info", format: "json" });
  const records: LogRecord[] = [];
  const untap = tapLogs((r) => records.push(r));
  const p = await inProcess({
    actions: [{
      id: 11,
      name: "ssh",
      type: "firewall",
      firewall: { ports: [{ proto: "tcp", port: 22 }], duration: "5m" },
    }],
    aliceActions: ["ssh"],
  }, { dryRun: true });
  try {
    // With an address inside: the copy resent from elsewhere opens the victim's address.
    const withAddr = p.seal(11, undefined, { allowAddress: VICTIM.hostname });
    p.deliver(withAddr.datagram, ATTACKER);
    await p.replies(1);
    const plan = records.find((r) => r.properties.decision === "dry_run");
    assert.equal((plan?.properties.plan as { address: string }).address, VICTIM.hostname);

    // Without one: the first datagram only earns a cookie reply; the attacker who answers it
    // with a mac2 over the copied bytes resends a nonce already seen: silence, no grant.
    const bare = p.seal(11);
    const sent = p.channel.sent.length;
    p.deliver(bare.datagram, ATTACKER);
    const answer = (await p.replies(sent + 1))[sent];
    assert.equal(bare.reply.open(answer).ok, false, "not a sealed reply: a cookie reply");
    const stolen = openCookieReply(p.fx.serverPublic, bare.mac1, answer);
    assert.ok(stolen);
    const { computeMac2 } = await import("../../src/wire/mac2.ts");
    const resent = bare.datagram.slice();
    resent.set(
      computeMac2(stolen.cookie, resent.subarray(0, resent.length - 16)),
      resent.length - 16,
    );
    p.deliver(resent, ATTACKER);
    p.deliver(bare.datagram, VICTIM);
    await p.replies(sent + 2, 300);
    assert.equal(p.channel.sent.length, sent + 1, "nothing more was answered");
    const plans = records.filter((r) => r.properties.decision === "dry_run");
    assert.equal(plans.length, 1, "no second grant was planned");
  } finally {
    untap();
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("attack: a replay gets silence at every age (no clock-skew oracle)", async () => {
  const p = await inProcess();
  try {
    const req = p.seal(1);
    p.deliver(req.datagram);
    await p.replies(1);
    p.deliver(req.datagram); // at once
    p.deliver(req.datagram, ATTACKER); // from elsewhere
    // Captured long ago: outside the time window, authenticated, from anywhere.
    for (const offset of [-31_000, -120_000, -3_600_000, 3_600_000]) {
      const old = p.seal(1, undefined, { timeOffsetMs: offset });
      p.deliver(old.datagram, ATTACKER);
      p.deliver(old.datagram, CLIENT);
    }
    await p.replies(2, 300);
    assert.equal(p.channel.sent.length, 1, "only the original was answered");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("attack: a lost reply and its retries run the action once", async () => {
  const p = await inProcess({
    scripts: { "count.sh": 'sleep 0.3; echo x >> "$0.count"' },
    writable: true,
    actions: [{ id: 10, name: "count", type: "exec", command: ["$DIR/count.sh"] }],
    aliceActions: ["count"],
  });
  try {
    const first = p.seal(10);
    p.deliver(first.datagram);
    // The client heard nothing and retries twice: new nonces, same retry id; one retry
    // arrives while the action still runs, one after.
    const early = p.seal(10, undefined, { retryId: first.retryId });
    p.deliver(early.datagram);
    await p.replies(1, 3000);
    const late = p.seal(10, undefined, { retryId: first.retryId });
    p.deliver(late.datagram);
    const replies = await p.replies(2, 3000);
    assert.equal(replies.length, 2, "the first and the late retry are answered");
    const a = first.reply.open(replies[0]);
    const b = late.reply.open(replies[1]);
    assert.ok(a.ok && b.ok);
    assert.equal(a.reply.status, ReplyStatus.Ok);
    assert.equal(b.reply.status, ReplyStatus.Ok);
    assert.equal(p.daemon.counters.retries_answered, 1);
    const ran = await Deno.readTextFile(`${p.fx.dir}/count.sh.count`);
    assert.equal(ran, "x\n", "the script ran once");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("an old (v1) client is told to upgrade in a reply it can read; nothing runs", async () => {
  const p = await inProcess();
  try {
    const v1 = sealRequest(p.fx.serverPublic, { kind: "hmac", key: p.fx.aliceKey }, {
      type: "request",
      userId: 1,
      actionId: 1,
    }, { now: Date.now(), padTo: 1200, version: SUITE_V1.version as 1 });
    p.deliver(v1.datagram);
    const opened = v1.reply.open((await p.replies(1))[0]);
    assert.ok(opened.ok);
    assert.equal(opened.reply.status, ReplyStatus.Error);
    assert.equal(decodeReplyBody(opened.reply.body).reason, OLD_CLIENT_REASON);
    assert.equal(p.daemon.counters.accepted, undefined);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("attack: a spoofed flood under load gets at most the daemon-wide cookie budget", async () => {
  const p = await frozenDaemon();
  try {
    // A user who authenticated before the flood.
    const hello = p.seal(1);
    p.deliver(hello.datagram, CLIENT);
    await p.replies(1);
    pressOn(p);
    const datagram = badAuth(p.fx.serverPublic).datagram;
    const before = p.daemon.counters.cookie_replies ?? 0;
    for (let i = 0; i < 6000; i++) p.deliver(datagram, spoofed());
    const c = p.daemon.counters;
    assert.ok((c.cookie_budget_spent ?? 0) > 0, JSON.stringify(c));
    // The burst of 4,000 (the frozen clock refills nothing).
    const bound = 4000;
    const sent = (c.cookie_replies ?? 0) - before;
    assert.ok(sent <= bound, `cookie replies: ${sent} > ${bound}`);
    // The budget is spent, but the known user's next request still gets its cookie.
    const again = p.seal(1);
    const at = p.channel.sent.length;
    p.deliver(again.datagram, CLIENT);
    const answer = (await p.replies(at + 1))[at];
    assert.ok(answer && openCookieReply(p.fx.serverPublic, again.mac1, answer), "a cookie reply");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("attack: with the cookie budget spent, a new client's retry still gets its cookie", async () => {
  const p = await frozenDaemon();
  try {
    pressOn(p);
    const flood = badAuth(p.fx.serverPublic).datagram;
    for (let i = 0; i < 5000; i++) p.deliver(flood, spoofed());
    assert.ok((p.daemon.counters.cookie_budget_spent ?? 0) > 0);
    // A client that never authenticated: its first datagram is one of the flood's…
    const newcomer = at("127.0.0.77", 5555);
    const sent = p.channel.sent.length;
    p.deliver(p.seal(1).datagram, newcomer);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(p.channel.sent.length, sent, "no budget left for a first datagram");
    // …its retry (a fresh seal, the same address and port) is answered.
    const retry = p.seal(1);
    p.deliver(retry.datagram, newcomer);
    const answer = (await p.replies(sent + 1))[sent];
    assert.ok(answer && openCookieReply(p.fx.serverPublic, retry.mac1, answer), "a cookie reply");
    // A first contact sends its datagram twice at once (src/client/send.ts): the copy is
    // the retry, answered at once.
    const twice = p.seal(1);
    const second = at("127.0.0.78", 5556);
    const before2 = p.channel.sent.length;
    p.deliver(twice.datagram, second);
    p.deliver(twice.datagram, second);
    const answer2 = (await p.replies(before2 + 1))[before2];
    assert.ok(answer2 && openCookieReply(p.fx.serverPublic, twice.mac1, answer2), "a cookie");
    // A spoofer who sends every source twice spends only the retry budget (burst 4,000).
    const before = p.daemon.counters.cookie_retry_replies ?? 0;
    for (let i = 0; i < 6000; i++) {
      const src = spoofed();
      p.deliver(flood, src);
      p.deliver(flood, src);
    }
    const retried = (p.daemon.counters.cookie_retry_replies ?? 0) - before;
    assert.ok(retried > 0 && retried <= 4000, `retry cookie replies: ${retried}`);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("attack: under load, garbage without the server's mac1 spends no cookie budget", async () => {
  const p = await frozenDaemon();
  try {
    // Load on (pressure), then leave pressure's per-source squeeze out of it: fresh sources.
    pressOn(p);
    // 10,000 datagrams of random bytes (no valid mac1; mac2 zero), each from a new source:
    // more than the whole burst of both budgets (4,000 + 4,000).
    const junk = crypto.getRandomValues(new Uint8Array(176));
    junk.fill(0, 160);
    const sent = p.channel.sent.length;
    const before = p.daemon.counters.cookie_replies ?? 0;
    for (let i = 0; i < 10_000; i++) {
      junk[0] = i & 255;
      junk[1] = i >> 8;
      p.deliver(junk, spoofed());
    }
    assert.equal(p.channel.sent.length, sent, "garbage gets no reply");
    assert.equal(p.daemon.counters.cookie_replies ?? 0, before);
    assert.ok((p.daemon.counters.cookie_gate ?? 0) >= 10_000, "it went the gated path");
    // The budget is whole: a new client's first datagram still gets its cookie at once.
    const req = p.seal(1);
    p.deliver(req.datagram, at("127.0.0.79", 5557));
    const answer = (await p.replies(sent + 1))[sent];
    assert.ok(answer && openCookieReply(p.fx.serverPublic, req.mac1, answer), "a cookie reply");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

import assert from "node:assert/strict";
import { utf8 } from "../../src/crypto/bytes.ts";
import {
  MAX_REPLY_DATAGRAM,
  maxReplyBody,
  REPLY_OVERHEAD,
  REPLY_TYPES,
  ReplyStatus,
  type ReplyType,
  sealRequest,
} from "../../src/wire/mod.ts";
import { AUTHS, lookup, NOW, opener, serverPublic } from "./_fixtures.ts";

function exchange(kind: "hmac" | "ed25519" = "hmac", insecure = false) {
  const s = sealRequest(serverPublic, AUTHS[kind].auth, {
    type: "request",
    userId: AUTHS[kind].userId,
    actionId: 1,
    payload: new Uint8Array(40),
  }, { now: NOW, insecure });
  const r = opener({ insecure }).open(s.datagram, lookup);
  assert.ok(r.ok);
  return { client: s.reply, server: r.replier, requestId: s.requestId };
}

Deno.test("reply round trip: every reply type, both auth kinds and modes, all fields", () => {
  for (const insecure of [false, true]) {
    for (const kind of ["hmac", "ed25519"] as const) {
      const { client, server, requestId } = exchange(kind, insecure);
      for (const type of REPLY_TYPES) {
        const body = utf8(`{"t":"${type}"}`);
        const d = server.seal({
          type: type as ReplyType,
          status: ReplyStatus.DryRun,
          seq: 513,
          final: false,
          truncated: true,
          exitCode: -2,
          serverTime: NOW + 5,
          requestId,
          body,
        });
        const got = client.open(d);
        assert.ok(got.ok, `${type}`);
        assert.deepEqual(got.reply, {
          version: 2,
          type,
          status: ReplyStatus.DryRun,
          seq: 513,
          final: false,
          truncated: true,
          exitCode: -2,
          serverTime: NOW + 5,
          requestId,
          body,
        });
      }
    }
  }
});

Deno.test("several replies per request (progress, then final)", () => {
  const { client, server } = exchange();
  for (let seq = 0; seq < 5; seq++) {
    const d = server.seal({
      type: "event",
      status: ReplyStatus.Progress,
      seq,
      final: seq === 4,
      serverTime: NOW,
    });
    const got = client.open(d);
    assert.ok(got.ok && got.reply.seq === seq && got.reply.final === (seq === 4));
  }
});

Deno.test("a reply for another request, or forged without the server key, does not open", () => {
  const a = exchange();
  const b = exchange();
  const d = a.server.seal({ status: 0, serverTime: NOW });
  assert.deepEqual(b.client.open(d), { ok: false, reason: "decrypt_failed" });
  // Random bytes of a plausible size
  assert.equal(a.client.open(crypto.getRandomValues(new Uint8Array(100))).ok, false);
  assert.deepEqual(a.client.open(new Uint8Array(REPLY_OVERHEAD - 1)), {
    ok: false,
    reason: "too_short",
  });
  assert.deepEqual(a.client.open(new Uint8Array(1401)), { ok: false, reason: "too_long" });
});

Deno.test("every single-bit flip and truncation of a reply is rejected", () => {
  const { client, server } = exchange();
  const d = server.seal({ status: 0, serverTime: NOW, body: utf8("hello") });
  for (let bit = 0; bit < d.length * 8; bit++) {
    const x = d.slice();
    x[bit >> 3] ^= 1 << (bit & 7);
    assert.equal(client.open(x).ok, false, `bit ${bit}`);
  }
  for (let n = 0; n < d.length; n++) assert.equal(client.open(d.subarray(0, n)).ok, false);
});

Deno.test("reply datagrams differ each time (random nonce) and are ≤ 1200 bytes", () => {
  const { server } = exchange();
  const a = server.seal({ status: 0, serverTime: NOW });
  const b = server.seal({ status: 0, serverTime: NOW });
  assert.notDeepEqual(a, b);
  assert.equal(a.length, REPLY_OVERHEAD);
  const full = server.seal({
    status: 0,
    serverTime: NOW,
    body: new Uint8Array(maxReplyBody(MAX_REPLY_DATAGRAM)),
  });
  assert.equal(full.length, MAX_REPLY_DATAGRAM);
  assert.throws(
    () =>
      server.seal({
        status: 0,
        serverTime: NOW,
        body: new Uint8Array(maxReplyBody(MAX_REPLY_DATAGRAM) + 1),
      }),
    RangeError,
  );
  const padded = server.seal({ status: 0, serverTime: NOW, padTo: 300 });
  assert.equal(padded.length, 300);
});

Deno.test("maxReplyBody: a reply never exceeds the given limit", () => {
  const { client, server } = exchange();
  for (const limit of [0, 10, REPLY_OVERHEAD, 140, 144, 500, 1200, 1400, 5000]) {
    const n = maxReplyBody(limit);
    assert.ok(n >= 0);
    if (limit < REPLY_OVERHEAD) {
      assert.equal(n, 0);
      continue;
    }
    const d = server.seal({ status: 0, serverTime: NOW, body: new Uint8Array(n) });
    assert.ok(d.length <= Math.min(limit, MAX_REPLY_DATAGRAM), `limit ${limit}`);
    assert.ok(client.open(d).ok);
  }
});

Deno.test("the reply sealer refuses out-of-range fields and a different request id", () => {
  const { server } = exchange();
  assert.throws(() => server.seal({ status: 256, serverTime: NOW }));
  assert.throws(() => server.seal({ status: 0, seq: 65536, serverTime: NOW }));
  assert.throws(() => server.seal({ status: 0, exitCode: 2 ** 31, serverTime: NOW }));
  assert.throws(() => server.seal({ status: 0, serverTime: -1 }));
  assert.throws(() => server.seal({ status: 0, serverTime: NOW, requestId: new Uint8Array(16) }));
  assert.throws(() => server.seal({ type: "request" as ReplyType, status: 0, serverTime: NOW }));
});

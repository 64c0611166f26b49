import assert from "node:assert/strict";
import { utf8 } from "../../src/crypto/bytes.ts";
import {
  CookieChecker,
  MAX_DATAGRAM,
  type MessageType,
  openCookieReply,
  REQUEST_TYPES,
  RequestFlag,
  sealRequest,
  type WireMode,
} from "../../src/wire/mod.ts";
import {
  AUTHS,
  ED_USER,
  HMAC_USER,
  hmacKey,
  lookup,
  NOW,
  opener,
  otherServerPublic,
  remac,
  serverPublic,
} from "./_fixtures.ts";

const KINDS = ["hmac", "ed25519"] as const;
const MODES: WireMode[] = ["secure", "insecure"];

function seal(
  kind: "hmac" | "ed25519",
  mode: WireMode = "secure",
  extra: Partial<Parameters<typeof sealRequest>[2]> = {},
  opts: Parameters<typeof sealRequest>[3] = {},
) {
  const { auth, userId } = AUTHS[kind];
  return sealRequest(serverPublic, auth, {
    type: "request",
    userId,
    actionId: 7,
    payload: utf8("open ssh"),
    ...extra,
  }, { now: NOW, insecure: mode === "insecure", ...opts });
}

Deno.test("round trip: every request type, both auth kinds, both modes", () => {
  for (const mode of MODES) {
    const op = opener({ insecure: mode === "insecure" });
    for (const kind of KINDS) {
      for (const type of REQUEST_TYPES) {
        const payload = utf8(`payload for ${type}`);
        const s = seal(kind, mode, {
          type: type as MessageType,
          payload,
          sessionId: 99n,
          flags: RequestFlag.DryRun,
        });
        assert.equal(op.prefilter(s.datagram), null);
        const r = op.open(s.datagram, lookup);
        assert.ok(r.ok, `${mode} ${kind} ${type}: ${!r.ok && r.reason}`);
        assert.equal(r.msg.type, type);
        assert.equal(r.msg.authKind, kind);
        assert.equal(r.msg.mode, mode);
        assert.equal(r.msg.version, 2);
        assert.deepEqual(r.msg.retryId, s.retryId);
        assert.equal(r.msg.allowAddress, undefined);
        assert.equal(r.msg.userId, AUTHS[kind].userId);
        assert.equal(r.msg.actionId, 7);
        assert.equal(r.msg.sessionId, 99n);
        assert.equal(r.msg.flags, RequestFlag.DryRun);
        assert.equal(r.msg.timestamp, NOW);
        assert.deepEqual(r.msg.payload, payload);
        assert.deepEqual(r.msg.nonce, s.requestId);
        assert.equal(r.msg.cookie, undefined);
      }
    }
  }
});

Deno.test("v1 (old client) still opens, as version 1, with its cookie and its nonce as retry id", () => {
  const cookie = new Uint8Array(16).fill(0xc0);
  for (const mode of MODES) {
    for (const kind of KINDS) {
      const s = seal(kind, mode, { cookie, payload: new Uint8Array(40) }, { version: 1 });
      assert.equal(s.mac1.length, 16);
      assert.deepEqual(s.datagram.subarray(s.datagram.length - 16), s.mac1);
      const r = opener({ insecure: mode === "insecure" }).open(s.datagram, lookup);
      assert.ok(r.ok, !r.ok ? r.reason : "");
      assert.equal(r.msg.version, 1);
      assert.deepEqual(r.msg.cookie, cookie);
      assert.equal(r.msg.flags & RequestFlag.Cookie, RequestFlag.Cookie);
      assert.deepEqual(r.msg.retryId, r.msg.nonce);
      // A v1 client can open the (v1) reply the server seals to it: "upgrade".
      const reply = r.replier.seal({ status: 1, serverTime: NOW, body: utf8('{"reason":"x"}') });
      const got = s.reply.open(reply);
      assert.ok(got.ok && got.reply.version === 1);
    }
  }
});

Deno.test("v2 carries the retry id and the allow address (IPv4, IPv6, mapped IPv4 as IPv4)", () => {
  const retryId = new Uint8Array(16).fill(0x5a);
  const cases: [string, 4 | 6, bigint][] = [
    ["198.51.100.7", 4, 0xc6336407n],
    ["2001:db8::1", 6, 0x20010db8000000000000000000000001n],
    ["::ffff:198.51.100.7", 4, 0xc6336407n],
  ];
  for (const [text, family, value] of cases) {
    for (const mode of MODES) {
      const a = seal("hmac", mode, { retryId, allowAddress: text, payload: new Uint8Array(40) });
      const b = seal("hmac", mode, { retryId, allowAddress: text, payload: new Uint8Array(40) });
      assert.deepEqual(a.retryId, retryId);
      assert.notDeepEqual(a.requestId, b.requestId); // a fresh nonce per datagram
      const r = opener({ insecure: mode === "insecure" }).open(a.datagram, lookup);
      assert.ok(r.ok, !r.ok ? r.reason : "");
      assert.deepEqual(r.msg.allowAddress, { family, value });
      assert.deepEqual(r.msg.retryId, retryId);
      assert.equal(r.msg.cookie, undefined);
    }
  }
  assert.throws(() => seal("hmac", "secure", { allowAddress: "nope" }), RangeError);
  assert.throws(() => seal("hmac", "secure", { retryId: new Uint8Array(15) }), RangeError);
  assert.throws(() => seal("hmac", "secure", { allowAddress: "::1" }, { version: 1 }), RangeError);
});

Deno.test("mac1 sits before mac2; mac2 is zero without a cookie and keyed by it with one", () => {
  const s = seal("hmac");
  const d = s.datagram;
  assert.deepEqual(d.subarray(d.length - 32, d.length - 16), s.mac1);
  assert.deepEqual(d.subarray(d.length - 16), new Uint8Array(16));
  const c = seal("hmac", "secure", {}, { cookie: new Uint8Array(16).fill(1) }).datagram;
  assert.notDeepEqual(c.subarray(c.length - 16), new Uint8Array(16));
  assert.throws(() => seal("hmac", "secure", {}, { cookie: new Uint8Array(15) }), RangeError);
});

Deno.test("max payload fits 1400 bytes; one more byte is refused by the sealer", () => {
  const max = MAX_DATAGRAM - 32 - 61 - 32 - 16 - 16 - 16;
  const s = seal("hmac", "secure", { payload: new Uint8Array(max).fill(1) });
  assert.equal(s.datagram.length, MAX_DATAGRAM);
  assert.ok(opener().open(s.datagram, lookup).ok);
  assert.throws(() => seal("hmac", "secure", { payload: new Uint8Array(max + 1) }), RangeError);
});

Deno.test("padTo pads the datagram, padding is inside the ciphertext and checked", () => {
  const s = seal("ed25519", "secure", {}, { padTo: 1000 });
  assert.equal(s.datagram.length, 1000);
  assert.ok(opener().open(s.datagram, lookup).ok);
  // default: a multiple of 16
  assert.equal(seal("hmac").datagram.length % 16, 0);
});

Deno.test("enc top bit is random on the wire and cleared by the receiver", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 64; i++) {
    const s = seal("hmac");
    seen.add(s.datagram[31] >> 7);
    assert.ok(opener().open(s.datagram, lookup).ok);
  }
  assert.deepEqual([...seen].sort(), [0, 1]);
  for (const bit of [0, 1] as const) {
    assert.ok(opener().open(seal("hmac", "secure", {}, { encHighBit: bit }).datagram, lookup).ok);
  }
});

Deno.test("size limits: under the minimum and over 1400 bytes", () => {
  const op = opener();
  assert.equal(op.open(new Uint8Array(0), lookup).ok, false);
  assert.deepEqual(op.open(new Uint8Array(op.minLength - 1), lookup), {
    ok: false,
    reason: "too_short",
  });
  assert.deepEqual(op.open(new Uint8Array(MAX_DATAGRAM + 1), lookup), {
    ok: false,
    reason: "too_long",
  });
  assert.deepEqual(op.open(new Uint8Array(op.minLength), lookup), {
    ok: false,
    reason: "bad_mac1",
  });
  assert.equal(op.minLength, 140);
  assert.equal(opener({ insecure: true }).minLength, 124);
});

Deno.test("wrong server key: bad_mac1", () => {
  const s = sealRequest(otherServerPublic, AUTHS.hmac.auth, {
    type: "request",
    userId: HMAC_USER,
    actionId: 1,
  }, {
    now: NOW,
  });
  assert.deepEqual(opener().open(s.datagram, lookup), { ok: false, reason: "bad_mac1" });
});

Deno.test("secure vs insecure never cross: wrong_mode both ways", () => {
  // (long enough payload: an insecure packet can be shorter than the secure minimum)
  const big = { payload: new Uint8Array(40) };
  assert.deepEqual(opener().open(seal("hmac", "insecure", big).datagram, lookup), {
    ok: false,
    reason: "wrong_mode",
  });
  assert.deepEqual(opener({ insecure: true }).open(seal("hmac").datagram, lookup), {
    ok: false,
    reason: "wrong_mode",
  });
  // without wrong-mode detection it is just garbage
  assert.deepEqual(
    opener({ detectWrongMode: false }).open(seal("hmac", "insecure", big).datagram, lookup),
    {
      ok: false,
      reason: "bad_mac1",
    },
  );
  // an insecure body re-tagged with the secure mac1 does not decrypt
  assert.equal(
    opener().open(remac(seal("hmac", "insecure", big).datagram, "secure"), lookup).ok,
    false,
  );
});

Deno.test("unknown user, wrong user key, auth kind the user lacks: reason and user id", () => {
  const op = opener();
  const s = seal("hmac");
  assert.deepEqual(op.open(s.datagram, () => undefined), {
    ok: false,
    reason: "unknown_user",
    userId: HMAC_USER,
  });
  const wrongKey = hmacKey.slice();
  wrongKey[0] ^= 1;
  assert.deepEqual(op.open(s.datagram, () => ({ hmacKey: wrongKey })), {
    ok: false,
    reason: "bad_auth",
    userId: HMAC_USER,
  });
  // HMAC request for a user known only by an Ed25519 key, and the reverse
  assert.equal(
    (op.open(s.datagram, () => lookup(ED_USER)) as { reason: string }).reason,
    "bad_auth",
  );
  const e = seal("ed25519");
  assert.equal(
    (op.open(e.datagram, () => lookup(HMAC_USER)) as { reason: string }).reason,
    "bad_auth",
  );
  // signature by another key
  assert.equal(
    (op.open(e.datagram, () => ({ ed25519Public: new Uint8Array(32).fill(7) })) as {
      reason: string;
    }).reason,
    "bad_auth",
  );
  // a throwing lookup is an unknown user, not an exception
  assert.equal(
    (op.open(s.datagram, () => {
      throw new Error("boom");
    }) as { reason: string }).reason,
    "unknown_user",
  );
});

Deno.test("timestamps outside the window: old/future, with replier and msg for an authenticated user", () => {
  const op = opener({ skewMs: 30_000 });
  for (const kind of KINDS) {
    const ok1 = seal(kind, "secure", { timestamp: NOW - 30_000 });
    assert.ok(op.open(ok1.datagram, lookup).ok, "edge of window is inside");
    const ok2 = seal(kind, "secure", { timestamp: NOW + 30_000 });
    assert.ok(op.open(ok2.datagram, lookup).ok);
    const old = seal(kind, "secure", { timestamp: NOW - 30_001 });
    const r1 = op.open(old.datagram, lookup);
    assert.equal(r1.ok, false);
    assert.ok(
      !r1.ok && r1.reason === "timestamp_old" && r1.replier && r1.msg &&
        r1.userId === AUTHS[kind].userId,
    );
    // The client can open the clock-skew answer.
    const reply = r1.replier!.seal({ status: 3, serverTime: NOW });
    const got = old.reply.open(reply);
    assert.ok(got.ok && got.reply.serverTime === NOW && got.reply.status === 3);
    const fut = seal(kind, "secure", { timestamp: NOW + 30_001 });
    const r2 = op.open(fut.datagram, lookup);
    assert.ok(!r2.ok && r2.reason === "timestamp_future" && r2.replier !== undefined);
  }
  // Unauthenticated failures never carry a replier.
  const bad = op.open(
    seal("hmac", "secure", { timestamp: NOW - 60_000 }).datagram,
    () => undefined,
  );
  assert.ok(!bad.ok && bad.replier === undefined && bad.msg === undefined);
});

Deno.test("every single-bit flip of a valid packet is rejected (exhaustive, both auth kinds, both modes)", () => {
  for (const mode of MODES) {
    const op = opener({ insecure: mode === "insecure" });
    // The request carries a valid mac2 for its source: flips there are mac2's to catch.
    const checker = new CookieChecker(serverPublic, {
      clock: () => NOW,
      insecure: mode === "insecure",
    });
    const probe = seal("hmac", mode);
    const cr = checker.cookieReply(probe.datagram, "192.0.2.9", 999)!;
    const cookie = openCookieReply(serverPublic, probe.mac1, cr)!.cookie;
    for (const kind of KINDS) {
      const d = seal(kind, mode, {}, { padTo: 240, cookie }).datagram;
      if (mode === "secure") assert.equal(d.length, 240);
      assert.ok(checker.checkMac2(d, "192.0.2.9", 999));
      for (let bit = 0; bit < d.length * 8; bit++) {
        const x = d.slice();
        x[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(checker.checkMac2(x, "192.0.2.9", 999), false, `mac2 ${mode} ${kind} ${bit}`);
        if (bit >= (d.length - 16) * 8) continue; // mac2 is outside the seal: checked above
        const r = op.open(x, lookup);
        assert.equal(r.ok, false, `${mode} ${kind} bit ${bit}`);
        assert.ok(!r.ok && r.replier === undefined);
      }
    }
  }
});

Deno.test("every single-bit flip with mac1 recomputed (active attacker) is rejected past mac1", () => {
  for (const mode of MODES) {
    const op = opener({ insecure: mode === "insecure" });
    for (const kind of KINDS) {
      const d = seal(kind, mode, {}, { padTo: 200 }).datagram;
      const reasons = new Set<string>();
      for (let bit = 0; bit < (d.length - 32) * 8; bit++) {
        const x = d.slice();
        x[bit >> 3] ^= 1 << (bit & 7);
        const r = op.open(remac(x, mode), lookup);
        assert.equal(r.ok, false, `${mode} ${kind} bit ${bit}`);
        if (!r.ok) {
          reasons.add(r.reason);
          assert.notEqual(r.reason, "bad_mac1");
          assert.equal(r.replier, undefined, `no replier for a forged packet (${r.reason})`);
        }
      }
      if (mode === "secure") assert.deepEqual([...reasons], ["decrypt_failed"]);
    }
  }
});

Deno.test("every truncation and every extension by one byte is rejected", () => {
  for (const mode of MODES) {
    const op = opener({ insecure: mode === "insecure" });
    for (const kind of KINDS) {
      const d = seal(kind, mode).datagram;
      for (let n = 0; n < d.length; n++) {
        const r = op.open(d.subarray(0, n), lookup);
        assert.equal(r.ok, false, `length ${n}`);
        // also with a valid mac1 for the shortened bytes
        if (n >= 16) {
          assert.equal(op.open(remac(d.subarray(0, n), mode), lookup).ok, false, `remac ${n}`);
        }
      }
      const longer = new Uint8Array(d.length + 1);
      longer.set(d);
      assert.equal(op.open(longer, lookup).ok, false);
      assert.equal(op.open(remac(longer, mode), lookup).ok, false);
    }
  }
});

Deno.test("the sealer refuses out-of-range fields", () => {
  const a = AUTHS.hmac.auth;
  const base = { type: "request" as const, userId: 1, actionId: 1 };
  assert.throws(() => sealRequest(serverPublic, a, { ...base, userId: 2 ** 32 }));
  assert.throws(() => sealRequest(serverPublic, a, { ...base, actionId: 65536 }));
  assert.throws(() => sealRequest(serverPublic, a, { ...base, type: "reply" }));
  assert.throws(() => sealRequest(serverPublic, a, { ...base, nonce: new Uint8Array(15) }));
  assert.throws(() => sealRequest(serverPublic, a, { ...base, cookie: new Uint8Array(8) }));
  assert.throws(() => sealRequest(serverPublic, a, { ...base, sessionId: 2n ** 64n }));
  assert.throws(() => sealRequest(serverPublic, a, { ...base, flags: 256 }));
  assert.throws(() => sealRequest(new Uint8Array(31), a, base));
  assert.throws(() => sealRequest(serverPublic, { kind: "hmac", key: new Uint8Array(16) }, base));
});

Deno.test("the opener refuses a public key that is not its private key's", () => {
  assert.throws(() => opener({ x25519Public: otherServerPublic }));
});

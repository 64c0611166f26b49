/**
 * Our wire v2 vectors (tests/vectors/wire_v2.json): the code must reproduce the bytes, and
 * the layout (mac1 before mac2, mac2, the clear inner fields of an insecure request, the
 * cookie and the cookie reply) is re-derived here with node:crypto, independently of
 * src/wire.
 */
import assert from "node:assert/strict";
import { createDecipheriv, createHash, createHmac } from "node:crypto";
import {
  CookieChecker,
  cookieFor,
  openCookieReply,
  ReplyOpener,
  RequestOpener,
  sealCookieReply,
  sealRequest,
  type UserAuth,
} from "../../src/wire/mod.ts";

interface ReqVector {
  name: string;
  mode: "secure" | "insecure";
  auth: "hmac" | "ed25519";
  user_id: number;
  action_id: number;
  session_id: string;
  flags: number;
  payload: string;
  timestamp: number;
  nonce: string;
  retry_id: string;
  allow_address: string | null;
  mac2_cookie: string | null;
  ephemeral_private: string;
  enc_high_bit: 0 | 1;
  pad_to: number | null;
  mac1_key: string;
  mac1: string;
  reply_key: string;
  datagram: string;
}

const V = JSON.parse(await Deno.readTextFile(new URL("../vectors/wire_v2.json", import.meta.url)));
const serverPrivate = Uint8Array.fromHex(V.server_private);
const serverPublic = Uint8Array.fromHex(V.server_public);
const hmacKey = Uint8Array.fromHex(V.user_hmac_key);
const edSeed = Uint8Array.fromHex(V.user_ed25519_seed);
const edPublic = Uint8Array.fromHex(V.user_ed25519_public);
const enc = new TextEncoder();

function authOf(v: ReqVector): UserAuth {
  return v.auth === "hmac"
    ? { kind: "hmac", key: hmacKey }
    : { kind: "ed25519", privateKey: edSeed };
}

for (const v of V.requests as ReqVector[]) {
  Deno.test(`vector v2: ${v.name} is reproduced byte for byte and opens`, () => {
    const s = sealRequest(serverPublic, authOf(v), {
      type: "request",
      userId: v.user_id,
      actionId: v.action_id,
      sessionId: BigInt("0x" + v.session_id),
      flags: v.flags,
      payload: Uint8Array.fromHex(v.payload),
      timestamp: v.timestamp,
      nonce: Uint8Array.fromHex(v.nonce),
      retryId: Uint8Array.fromHex(v.retry_id),
      allowAddress: v.allow_address ?? undefined,
    }, {
      insecure: v.mode === "insecure",
      ephemeralPrivate: Uint8Array.fromHex(v.ephemeral_private),
      encHighBit: v.enc_high_bit,
      padTo: v.pad_to ?? undefined,
      cookie: v.mac2_cookie === null ? undefined : Uint8Array.fromHex(v.mac2_cookie),
    });
    assert.equal(s.datagram.toHex(), v.datagram);
    assert.equal(s.mac1.toHex(), v.mac1);

    // Layout, independently: ... | mac1 = SHA-256(key ‖ bytes before it)[0..16] | mac2.
    const d = Uint8Array.fromHex(v.datagram);
    const n = d.length;
    const mac1 = createHash("sha256").update(Uint8Array.fromHex(v.mac1_key))
      .update(d.subarray(0, n - 32)).digest().subarray(0, 16);
    assert.equal(d.subarray(n - 32, n - 16).toHex(), mac1.toHex());
    const mac2 = d.subarray(n - 16);
    if (v.mac2_cookie === null) assert.equal(mac2.toHex(), "00".repeat(16));
    else {
      const want = createHmac("sha256", Uint8Array.fromHex(v.mac2_cookie))
        .update(d.subarray(0, n - 16)).digest().subarray(0, 16);
      assert.equal(mac2.toHex(), want.toHex());
    }
    if (v.mode === "insecure") {
      // Inner fields in the clear: version 2, type, auth kind, flags, user id, ... retry id
      // at 32, allow family at 60, then the address.
      const inner = d.subarray(32, n - 32);
      assert.deepEqual([...inner.subarray(0, 4)], [2, 1, v.auth === "hmac" ? 1 : 2, v.flags]);
      assert.equal(new DataView(inner.buffer, inner.byteOffset).getUint32(4), v.user_id);
      assert.equal(inner.subarray(16, 32).toHex(), v.nonce);
      assert.equal(inner.subarray(32, 48).toHex(), v.retry_id);
      assert.equal(inner[60], 6);
      assert.equal(inner.subarray(61, 77).toHex(), "20010db8000000000000000000000007");
    }

    const op = new RequestOpener({
      x25519Private: serverPrivate,
      x25519Public: serverPublic,
      insecure: v.mode === "insecure",
      clock: () => v.timestamp,
    });
    const r = op.open(d, () => ({ hmacKey, ed25519Public: edPublic }));
    assert.ok(r.ok, !r.ok ? r.reason : "");
    assert.equal(r.msg.version, 2);
    assert.equal(r.msg.userId, v.user_id);
    assert.equal(r.msg.nonce.toHex(), v.nonce);
    assert.equal(r.msg.retryId.toHex(), v.retry_id);
    assert.equal(r.msg.allowAddress === undefined, v.allow_address === null);
    const probe = r.replier.seal({ status: 0, serverTime: v.timestamp });
    const opened = new ReplyOpener(2, Uint8Array.fromHex(v.nonce), Uint8Array.fromHex(v.reply_key))
      .open(probe);
    assert.ok(opened.ok);
  });
}

Deno.test("vector v2: the cookie is HMAC(secret, label ‖ family ‖ port ‖ address)[0..16]", () => {
  const C = V.cookie;
  const block = new Uint8Array(19);
  block[0] = 4;
  new DataView(block.buffer).setUint16(1, C.source_port);
  block.set(C.source_ip.split(".").map(Number), 3);
  const want = createHmac("sha256", Uint8Array.fromHex(C.secret))
    .update(enc.encode("siglatch v2 cookie")).update(block).digest().subarray(0, 16);
  assert.equal(want.toHex(), C.cookie);
  assert.equal(
    cookieFor(Uint8Array.fromHex(C.secret), C.source_ip, C.source_port).toHex(),
    C.cookie,
  );
});

Deno.test("vector v2: the cookie reply is reproduced, opens independently and with the code", () => {
  const R = V.cookie_reply;
  const C = V.cookie;
  const mac1 = Uint8Array.fromHex(R.request_mac1);
  const d = sealCookieReply(
    serverPublic,
    mac1,
    Uint8Array.fromHex(C.cookie),
    C.source_ip,
    C.source_port,
    Uint8Array.fromHex(R.salt),
  );
  assert.equal(d.toHex(), R.datagram);
  // Independently: key = HMAC(SHA-256(label ‖ server public), salt), nonce 0, aad = mac1.
  const master = createHash("sha256").update(enc.encode("siglatch v2 cookie reply"))
    .update(serverPublic).digest();
  const key = createHmac("sha256", master).update(d.subarray(0, 16)).digest();
  // deno-lint-ignore no-explicit-any
  const dec: any = createDecipheriv("chacha20-poly1305" as any, key, new Uint8Array(12), {
    authTagLength: 16,
  });
  dec.setAAD(mac1, { plaintextLength: d.length - 32 });
  dec.setAuthTag(d.subarray(d.length - 16));
  const plain = new Uint8Array([...dec.update(d.subarray(16, d.length - 16)), ...dec.final()]);
  assert.equal(plain.subarray(0, 16).toHex(), C.cookie);
  assert.equal(plain[16], 4);
  assert.equal((plain[17] << 8) | plain[18], C.source_port);
  assert.equal([...plain.subarray(19, 23)].join("."), C.source_ip);
  assert.equal(plain.subarray(23).toHex(), "00".repeat(12));
  assert.deepEqual(openCookieReply(serverPublic, mac1, d), {
    cookie: Uint8Array.fromHex(C.cookie),
    observed: { ip: C.source_ip, port: C.source_port },
  });
  // The request the reply answers really has that mac1, and a checker accepts what it makes.
  const req = (V.requests as ReqVector[]).find((x) => x.name === R.to)!;
  assert.equal(req.mac1, R.request_mac1);
  assert.ok(
    new CookieChecker(serverPublic).cookieReply(Uint8Array.fromHex(req.datagram), C.source_ip, 1),
  );
});

Deno.test("vector v2: reply is reproduced byte for byte and opens with the derived key", () => {
  const R = V.reply;
  const req = (V.requests as ReqVector[]).find((x) => x.name === R.to)!;
  const op = new RequestOpener({
    x25519Private: serverPrivate,
    x25519Public: serverPublic,
    clock: () => req.timestamp,
  });
  const r = op.open(Uint8Array.fromHex(req.datagram), () => ({ hmacKey }));
  assert.ok(r.ok);
  const d = r.replier.seal({
    type: R.type,
    status: R.status,
    seq: R.seq,
    final: R.final,
    truncated: R.truncated,
    exitCode: R.exit_code,
    serverTime: R.server_time,
    body: Uint8Array.fromHex(R.body),
  }, { nonce: Uint8Array.fromHex(R.nonce) });
  assert.equal(d.toHex(), R.datagram);
  const got = new ReplyOpener(2, Uint8Array.fromHex(req.nonce), Uint8Array.fromHex(req.reply_key))
    .open(Uint8Array.fromHex(R.datagram));
  assert.ok(got.ok && got.reply.version === 2);
});

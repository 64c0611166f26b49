/**
 * Our own wire v1 vectors (tests/vectors/wire_v1.json): the code must reproduce the bytes.
 * Kept since v2: the server still recognises (and opens) a v1 datagram to tell an old
 * client to upgrade, and `sealRequest(..., { version: 1 })` plays that old client.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ReplyOpener, RequestOpener, sealRequest, type UserAuth } from "../../src/wire/mod.ts";

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
  ephemeral_private: string;
  enc: string;
  enc_high_bit: 0 | 1;
  pad_to: number | null;
  mac1_key: string;
  reply_key: string;
  datagram: string;
}

const V = JSON.parse(await Deno.readTextFile(new URL("../vectors/wire_v1.json", import.meta.url)));
const serverPrivate = Uint8Array.fromHex(V.server_private);
const serverPublic = Uint8Array.fromHex(V.server_public);
const hmacKey = Uint8Array.fromHex(V.user_hmac_key);
const edSeed = Uint8Array.fromHex(V.user_ed25519_seed);
const edPublic = Uint8Array.fromHex(V.user_ed25519_public);

function authOf(v: ReqVector): UserAuth {
  return v.auth === "hmac"
    ? { kind: "hmac", key: hmacKey }
    : { kind: "ed25519", privateKey: edSeed };
}

for (const v of V.requests as ReqVector[]) {
  Deno.test(`vector v1: ${v.name} is reproduced byte for byte and opens`, () => {
    const s = sealRequest(serverPublic, authOf(v), {
      type: "request",
      userId: v.user_id,
      actionId: v.action_id,
      sessionId: BigInt("0x" + v.session_id),
      flags: v.flags,
      payload: Uint8Array.fromHex(v.payload),
      timestamp: v.timestamp,
      nonce: Uint8Array.fromHex(v.nonce),
    }, {
      insecure: v.mode === "insecure",
      ephemeralPrivate: Uint8Array.fromHex(v.ephemeral_private),
      encHighBit: v.enc_high_bit,
      padTo: v.pad_to ?? undefined,
      version: 1,
    });
    assert.equal(s.datagram.toHex(), v.datagram);

    // Layout checks computed independently of the sealer.
    const d = Uint8Array.fromHex(v.datagram);
    const enc = d.slice(0, 32);
    assert.equal(enc[31] >> 7, v.enc_high_bit);
    enc[31] &= 0x7f;
    assert.equal(enc.toHex(), v.enc);
    const mac = createHash("sha256").update(Uint8Array.fromHex(v.mac1_key)).update(
      d.subarray(0, d.length - 16),
    ).digest();
    assert.equal(d.subarray(d.length - 16).toHex(), mac.subarray(0, 16).toHex());
    if (v.mode === "insecure") {
      // inner fields in the clear: version 1, type request(1), auth kind, flags, user id
      assert.deepEqual([...d.subarray(32, 36)], [1, 1, v.auth === "hmac" ? 1 : 2, v.flags]);
      assert.equal(new DataView(d.buffer).getUint32(36), v.user_id);
    }

    const op = new RequestOpener({
      x25519Private: serverPrivate,
      x25519Public: serverPublic,
      insecure: v.mode === "insecure",
      clock: () => v.timestamp,
    });
    const r = op.open(d, () => ({ hmacKey, ed25519Public: edPublic }));
    assert.ok(r.ok, !r.ok ? r.reason : "");
    assert.equal(r.msg.userId, v.user_id);
    assert.equal(r.msg.actionId, v.action_id);
    assert.equal(r.msg.payload.toHex(), v.payload);
    assert.equal(r.msg.nonce.toHex(), v.nonce);
    assert.equal(r.msg.sessionId, BigInt("0x" + v.session_id));
    // The client's reply opener uses the vector's reply key.
    const probe = r.replier.seal({ status: 0, serverTime: v.timestamp });
    assert.ok(
      new ReplyOpener(1, Uint8Array.fromHex(v.nonce), Uint8Array.fromHex(v.reply_key)).open(probe)
        .ok,
    );
  });
}

Deno.test("vector v1: reply is reproduced byte for byte and opens with the derived key", () => {
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
  const got = new ReplyOpener(1, Uint8Array.fromHex(req.nonce), Uint8Array.fromHex(req.reply_key))
    .open(
      Uint8Array.fromHex(R.datagram),
    );
  assert.ok(got.ok);
  assert.equal(got.reply.serverTime, R.server_time);
  assert.equal(got.reply.body.toHex(), R.body);
});

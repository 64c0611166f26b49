/**
 * Generates tests/vectors/wire_v1.json: fixed keys, nonce, timestamp and ephemeral key
 * → resulting bytes. Run only when the protocol deliberately changes (a new version):
 *   deno run --allow-write=tests/vectors tests/vectors/gen_wire_v1.ts
 * The checked-in file is the reference; tests/wire/vectors_test.ts checks the code
 * against it.
 */
import { concatBytes, utf8 } from "../../src/crypto/bytes.ts";
import {
  ed25519PublicFromPrivate,
  x25519PrivateKeyObject,
  x25519PublicFromPrivate,
} from "../../src/crypto/keys.ts";
import { mac1Key } from "../../src/wire/mac1.ts";
import { RequestOpener, sealRequest, SUITE_V1, type UserAuth } from "../../src/wire/mod.ts";

const server = Uint8Array.fromHex("a8" + "ab".repeat(30) + "6b");
const serverPub = x25519PublicFromPrivate(server);
const hmacKey = Uint8Array.fromHex(
  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
);
const edSeed = Uint8Array.fromHex(
  "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
);
const ephemeral = Uint8Array.fromHex("e0" + "55".repeat(30) + "5e");
const timestamp = 1_750_000_000_000;
const nonce = Uint8Array.fromHex("0f1e2d3c4b5a69788796a5b4c3d2e1f0");

function request(
  name: string,
  auth: UserAuth,
  userId: number,
  mode: "secure" | "insecure",
  padTo?: number,
) {
  const fields = {
    type: "request" as const,
    userId,
    actionId: 3,
    sessionId: 0x0102030405060708n,
    flags: 0,
    payload: utf8("open ssh"),
    timestamp,
    nonce,
  };
  const s = sealRequest(serverPub, auth, fields, {
    insecure: mode === "insecure",
    ephemeralPrivate: ephemeral,
    encHighBit: mode === "secure" ? 1 : 0,
    padTo,
    version: 1,
  });
  const ctx = SUITE_V1.hpke.setupBaseR(
    x25519PublicFromPrivate(ephemeral),
    x25519PrivateKeyObject(server),
    serverPub,
    SUITE_V1.info[mode],
  )!;
  const replyKey = ctx.export(concatBytes(SUITE_V1.replyLabel, nonce), 32);
  return {
    s,
    vector: {
      name,
      mode,
      auth: auth.kind,
      user_id: userId,
      action_id: fields.actionId,
      session_id: "0102030405060708",
      flags: 0,
      payload: fields.payload.toHex(),
      timestamp,
      nonce: nonce.toHex(),
      ephemeral_private: ephemeral.toHex(),
      enc: x25519PublicFromPrivate(ephemeral).toHex(),
      enc_high_bit: mode === "secure" ? 1 : 0,
      pad_to: padTo ?? null,
      mac1_key: mac1Key(SUITE_V1.mac1Label[mode], serverPub).toHex(),
      reply_key: replyKey.toHex(),
      datagram: s.datagram.toHex(),
    },
  };
}

const hm = request("hmac secure request", { kind: "hmac", key: hmacKey }, 42, "secure", 160);
const ed = request("ed25519 secure request", { kind: "ed25519", privateKey: edSeed }, 43, "secure");
const ins = request("hmac insecure request", { kind: "hmac", key: hmacKey }, 42, "insecure");

const opener = new RequestOpener({
  x25519Private: server,
  x25519Public: serverPub,
  clock: () => timestamp,
});
const opened = opener.open(hm.s.datagram, () => ({ hmacKey }));
if (!opened.ok) throw new Error(opened.reason);
const replyNonce = Uint8Array.fromHex("a0a1a2a3a4a5a6a7a8a9aaab");
const replyFields = {
  type: "reply" as const,
  status: 0,
  seq: 0,
  final: true,
  truncated: false,
  exitCode: 0,
  serverTime: timestamp + 7,
  body: utf8('{"out":"ok"}'),
};
const reply = opened.replier.seal(replyFields, { nonce: replyNonce });

const out = {
  description:
    "siglatch wire v1 test vectors: fixed keys, nonce, timestamp and ephemeral key -> bytes",
  suite: SUITE_V1.name,
  server_private: server.toHex(),
  server_public: serverPub.toHex(),
  user_hmac_key: hmacKey.toHex(),
  user_ed25519_seed: edSeed.toHex(),
  user_ed25519_public: ed25519PublicFromPrivate(edSeed).toHex(),
  requests: [hm.vector, ed.vector, ins.vector],
  reply: {
    to: hm.vector.name,
    nonce: replyNonce.toHex(),
    type: replyFields.type,
    status: replyFields.status,
    seq: replyFields.seq,
    final: replyFields.final,
    truncated: replyFields.truncated,
    exit_code: replyFields.exitCode,
    server_time: replyFields.serverTime,
    body: replyFields.body.toHex(),
    datagram: reply.toHex(),
  },
};
await Deno.writeTextFile(
  new URL("./wire_v1.json", import.meta.url),
  JSON.stringify(out, null, 2) + "\n",
);
console.log("wrote wire_v1.json");

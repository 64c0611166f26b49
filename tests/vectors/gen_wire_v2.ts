/**
 * Generates tests/vectors/wire_v2.json: fixed keys, nonce, retry id, timestamp, ephemeral
 * key, cookie secret and salt → resulting bytes (requests with and without an allow address
 * and mac2, a cookie and its cookie reply, a sealed reply). Run only when the protocol
 * deliberately changes (a new version):
 *   deno run --allow-write=tests/vectors tests/vectors/gen_wire_v2.ts
 * The checked-in file is the reference; tests/wire/vectors_v2_test.ts checks the code
 * against it.
 */
import { concatBytes, utf8 } from "../../src/crypto/bytes.ts";
import {
  ed25519PublicFromPrivate,
  x25519PrivateKeyObject,
  x25519PublicFromPrivate,
} from "../../src/crypto/keys.ts";
import { mac1Key } from "../../src/wire/mac1.ts";
import {
  cookieFor,
  RequestOpener,
  sealCookieReply,
  sealRequest,
  SUITE_V2,
  type UserAuth,
} from "../../src/wire/mod.ts";

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
const retryId = Uint8Array.fromHex("f0e1d2c3b4a5968778695a4b3c2d1e0f");
const cookieSecret = Uint8Array.fromHex("c0".repeat(32));
const source = { ip: "198.51.100.7", port: 40000 };
const cookie = cookieFor(cookieSecret, source.ip, source.port);
const salt = Uint8Array.fromHex("5a".repeat(16));

function request(
  name: string,
  auth: UserAuth,
  userId: number,
  mode: "secure" | "insecure",
  opts: { padTo?: number; allowAddress?: string; withCookie?: boolean } = {},
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
    retryId,
    allowAddress: opts.allowAddress,
  };
  const s = sealRequest(serverPub, auth, fields, {
    insecure: mode === "insecure",
    ephemeralPrivate: ephemeral,
    encHighBit: mode === "secure" ? 1 : 0,
    padTo: opts.padTo,
    cookie: opts.withCookie ? cookie : undefined,
  });
  const ctx = SUITE_V2.hpke.setupBaseR(
    x25519PublicFromPrivate(ephemeral),
    x25519PrivateKeyObject(server),
    serverPub,
    SUITE_V2.info[mode],
  )!;
  const replyKey = ctx.export(concatBytes(SUITE_V2.replyLabel, nonce), 32);
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
      retry_id: retryId.toHex(),
      allow_address: opts.allowAddress ?? null,
      mac2_cookie: opts.withCookie ? cookie.toHex() : null,
      ephemeral_private: ephemeral.toHex(),
      enc: x25519PublicFromPrivate(ephemeral).toHex(),
      enc_high_bit: mode === "secure" ? 1 : 0,
      pad_to: opts.padTo ?? null,
      mac1_key: mac1Key(SUITE_V2.mac1Label[mode], serverPub).toHex(),
      mac1: s.mac1.toHex(),
      reply_key: replyKey.toHex(),
      datagram: s.datagram.toHex(),
    },
  };
}

const hm = request("hmac secure request", { kind: "hmac", key: hmacKey }, 42, "secure", {
  padTo: 208,
});
const ed = request(
  "ed25519 secure request, IPv4 allow",
  {
    kind: "ed25519",
    privateKey: edSeed,
  },
  43,
  "secure",
  { allowAddress: "198.51.100.7" },
);
const ins = request(
  "hmac insecure request, IPv6 allow",
  { kind: "hmac", key: hmacKey },
  42,
  "insecure",
  {
    allowAddress: "2001:db8::7",
  },
);
const m2 = request(
  "hmac secure request with mac2 and IPv4 allow",
  { kind: "hmac", key: hmacKey },
  42,
  "secure",
  {
    allowAddress: "198.51.100.7",
    withCookie: true,
  },
);

const cookieReply = sealCookieReply(serverPub, hm.s.mac1, cookie, source.ip, source.port, salt);

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
  description: "siglatch wire v2 test vectors: fixed keys, nonce, retry id, timestamp, " +
    "ephemeral key, cookie secret and salt -> bytes",
  suite: SUITE_V2.name,
  server_private: server.toHex(),
  server_public: serverPub.toHex(),
  user_hmac_key: hmacKey.toHex(),
  user_ed25519_seed: edSeed.toHex(),
  user_ed25519_public: ed25519PublicFromPrivate(edSeed).toHex(),
  requests: [hm.vector, ed.vector, ins.vector, m2.vector],
  cookie: {
    secret: cookieSecret.toHex(),
    source_ip: source.ip,
    source_port: source.port,
    cookie: cookie.toHex(),
  },
  cookie_reply: {
    to: hm.vector.name,
    request_mac1: hm.s.mac1.toHex(),
    salt: salt.toHex(),
    datagram: cookieReply.toHex(),
  },
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
  new URL("./wire_v2.json", import.meta.url),
  JSON.stringify(out, null, 2) + "\n",
);
console.log("wrote wire_v2.json");

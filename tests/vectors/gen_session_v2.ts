/**
 * Generates tests/vectors/session_v2.json (docs/PROTOCOL.md §18): a session-opening request
 * with fixed keys, nonce, retry id, timestamp and ephemeral key → its reply key (HPKE
 * exporter) → the session keys for a fixed session id → a command datagram and a result
 * datagram. Run only when the protocol deliberately changes:
 *   deno run --allow-write=tests/vectors tests/vectors/gen_session_v2.ts
 * tests/wire/session_test.ts checks the code (and node:crypto alone) against it.
 */
import { x25519PublicFromPrivate } from "../../src/crypto/keys.ts";
import { RequestFlag, sealRequest } from "../../src/wire/mod.ts";
import {
  deriveSessionKeys,
  encodeAnswer,
  encodeCommand,
  sealSession,
  SessionC2S,
  SessionFlag,
  SessionS2C,
} from "../../src/wire/session.ts";

const server = Uint8Array.fromHex("a8" + "ab".repeat(30) + "6b");
const hmacKey = Uint8Array.fromHex(
  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
);
const ephemeral = Uint8Array.fromHex("58" + "11".repeat(30) + "51");
const nonce = Uint8Array.fromHex("f0".repeat(16));
const retryId = Uint8Array.fromHex("e1".repeat(16));
const timestamp = 1_767_225_600_000;
const sessionId = 0x0123456789abcdefn;

const req = sealRequest(x25519PublicFromPrivate(server), { kind: "hmac", key: hmacKey }, {
  type: "request",
  userId: 1,
  actionId: 1,
  flags: RequestFlag.Session,
  sessionId: 0n,
  nonce,
  retryId,
  timestamp,
}, { ephemeralPrivate: ephemeral, encHighBit: 0, padTo: 208 });
const replyKey = req.reply.exportKey();
const keys = deriveSessionKeys(replyKey, sessionId);
const payload = new TextEncoder().encode("hi");
const commandInner = encodeCommand({
  kind: SessionC2S.Command,
  cmd: 1,
  actionId: 1,
  seq: 0,
  payload,
});
const body = new TextEncoder().encode('{"data":"pong"}');
const answerInner = encodeAnswer({
  kind: SessionS2C.Result,
  status: 0,
  flags: SessionFlag.Final,
  cmd: 1,
  exitCode: 0,
  seq: 0,
  body,
});
const hex = (b: Uint8Array) => b.toHex();
const out = {
  about: "siglatch v2 sessions, docs/PROTOCOL.md §18; made by tests/vectors/gen_session_v2.ts",
  server_private: hex(server),
  hmac_key: hex(hmacKey),
  ephemeral_private: hex(ephemeral),
  nonce: hex(nonce),
  retry_id: hex(retryId),
  timestamp,
  request: hex(req.datagram),
  reply_key: hex(replyKey),
  session_id: sessionId.toString(16).padStart(16, "0"),
  c2s_key: hex(keys.c2s),
  s2c_key: hex(keys.s2c),
  command: { counter: 7, cmd: 1, action_id: 1, payload: "hi", inner: hex(commandInner) },
  command_datagram: hex(sealSession(keys.c2s, sessionId, 7, commandInner)),
  answer: { counter: 0, cmd: 1, status: 0, body: '{"data":"pong"}', inner: hex(answerInner) },
  answer_datagram: hex(sealSession(keys.s2c, sessionId, 0, answerInner)),
};
await Deno.writeTextFile(
  new URL("./session_v2.json", import.meta.url),
  JSON.stringify(out, null, 2) + "\n",
);

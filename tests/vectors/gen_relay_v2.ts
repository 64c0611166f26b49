/**
 * Generates tests/vectors/relay_v2.json (docs/PROTOCOL.md §19): one request through one
 * relay with fixed keys, nonces, timestamps and ephemeral keys: the inner request sealed to
 * the final server B, the relay layer, the outer request sealed to the relay A, B's reply and
 * A's `Relayed` reply that carries it. Run only when the layer format deliberately changes:
 *   deno run --allow-write=tests/vectors tests/vectors/gen_relay_v2.ts
 * tests/wire/relay_test.ts checks the code against the checked-in file.
 */
import { utf8 } from "../../src/crypto/bytes.ts";
import { x25519PublicFromPrivate } from "../../src/crypto/keys.ts";
import { ReplyStatus, RequestOpener, sealRequest } from "../../src/wire/mod.ts";
import { encodeRelayPayload } from "../../src/wire/relay.ts";

const relayKey = Uint8Array.fromHex("b0" + "a1".repeat(30) + "4f");
const finalKey = Uint8Array.fromHex("c8" + "b2".repeat(30) + "5e");
const hmacKey = Uint8Array.fromHex(
  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
);
const timestamp = 1_750_000_000_000;
const auth = { kind: "hmac" as const, key: hmacKey };
const fixed = (byte: string) => Uint8Array.fromHex(byte.repeat(16));

const inner = sealRequest(x25519PublicFromPrivate(finalKey), auth, {
  type: "request",
  userId: 42,
  actionId: 1,
  sessionId: 1n,
  payload: utf8("ping"),
  timestamp,
  nonce: fixed("11"),
  retryId: fixed("22"),
}, { ephemeralPrivate: Uint8Array.fromHex("e1" + "33".repeat(30) + "4e"), encHighBit: 0 });
const layer = encodeRelayPayload(0, inner.datagram, 0);
const outer = sealRequest(x25519PublicFromPrivate(relayKey), auth, {
  type: "request",
  userId: 42,
  actionId: 20,
  sessionId: 2n,
  payload: layer,
  timestamp,
  nonce: fixed("44"),
  retryId: fixed("55"),
}, { ephemeralPrivate: Uint8Array.fromHex("e2" + "66".repeat(30) + "4d"), encHighBit: 1 });

const opener = (key: Uint8Array) =>
  new RequestOpener({
    x25519Private: key,
    x25519Public: x25519PublicFromPrivate(key),
    clock: () => timestamp,
  });
const atFinal = opener(finalKey).open(inner.datagram, () => ({ hmacKey }));
const atRelay = opener(relayKey).open(outer.datagram, () => ({ hmacKey }));
if (!atFinal.ok || !atRelay.ok) throw new Error("vector requests do not open");
const reply = (status: number, body: Uint8Array) => ({
  type: "reply" as const,
  status,
  seq: 0,
  final: true,
  truncated: false,
  exitCode: 0,
  serverTime: timestamp + 5,
  body,
});
const finalReply = atFinal.replier.seal(reply(ReplyStatus.Ok, utf8('{"data":"pong"}')), {
  nonce: Uint8Array.fromHex("a0".repeat(12)),
});
const relayReply = atRelay.replier.seal(reply(ReplyStatus.Relayed, finalReply), {
  nonce: Uint8Array.fromHex("b0".repeat(12)),
});

const out = {
  description: "siglatch relay layer v1 over wire v2: a request to B through relay A -> bytes",
  relay_private: relayKey.toHex(),
  final_private: finalKey.toHex(),
  user_hmac_key: hmacKey.toHex(),
  user_id: 42,
  timestamp,
  inner_datagram: inner.datagram.toHex(),
  relay_payload: layer.toHex(),
  outer_action_id: 20,
  outer_datagram: outer.datagram.toHex(),
  final_reply: finalReply.toHex(),
  relay_reply: relayReply.toHex(),
};
await Deno.writeTextFile(
  new URL("./relay_v2.json", import.meta.url),
  JSON.stringify(out, null, 2) + "\n",
);
console.log("wrote relay_v2.json");

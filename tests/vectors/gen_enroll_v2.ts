/**
 * Writes tests/vectors/enroll_v2.json: an invite (format 1, and format 2 with an identity pin)
 * and the enroll request it makes
 * (docs/PROTOCOL.md §15) from fixed keys, secret, nonce, retry id, session id, timestamp
 * and ephemeral key. Run: deno run --allow-write tests/vectors/gen_enroll_v2.ts
 */
import { x25519PublicFromPrivate } from "../../src/crypto/keys.ts";
import { encodeInvite, enrollPayload } from "../../src/enroll/invite.ts";
import { sealRequest } from "../../src/wire/mod.ts";

/** The fixed inputs (also read by the test). */
export const INPUT = {
  server_private: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
  ephemeral_private: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
  invite_id: 0x80000001,
  secret: "1111111111111111111111111111111111111111111111111111111111111111",
  host: "192.0.2.10",
  port: 62201,
  user_ed25519_public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  nonce: "000102030405060708090a0b0c0d0e0f",
  retry_id: "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
  session_id: "0102030405060708",
  timestamp_ms: 1_796_000_000_000,
  pad_to: 1200,
  /** The identity pin of the format-2 invite (an Ed25519 public key). */
  identity_public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
};

/** Builds the vector's outputs from {@linkcode INPUT} with src/. */
export function build(): {
  invite: string;
  invite_pinned: string;
  payload: string;
  datagram: string;
} {
  const serverPublic = x25519PublicFromPrivate(Uint8Array.fromHex(INPUT.server_private));
  const secret = Uint8Array.fromHex(INPUT.secret);
  const payload = enrollPayload(Uint8Array.fromHex(INPUT.user_ed25519_public));
  const sealed = sealRequest(serverPublic, { kind: "hmac", key: secret }, {
    type: "enroll",
    userId: INPUT.invite_id,
    actionId: 0,
    sessionId: BigInt("0x" + INPUT.session_id),
    payload,
    retryId: Uint8Array.fromHex(INPUT.retry_id),
    nonce: Uint8Array.fromHex(INPUT.nonce),
    timestamp: INPUT.timestamp_ms,
  }, {
    padTo: INPUT.pad_to,
    ephemeralPrivate: Uint8Array.fromHex(INPUT.ephemeral_private),
    encHighBit: 0,
  });
  const fields = { host: INPUT.host, port: INPUT.port, id: INPUT.invite_id, secret, serverPublic };
  return {
    invite: encodeInvite(fields),
    invite_pinned: encodeInvite({ ...fields, identity: Uint8Array.fromHex(INPUT.identity_public) }),
    payload: payload.toHex(),
    datagram: sealed.datagram.toHex(),
  };
}

if (import.meta.main) {
  const out = {
    description: "siglatch v2 invite and enroll request (docs/PROTOCOL.md §15)",
    ...INPUT,
    server_public: x25519PublicFromPrivate(Uint8Array.fromHex(INPUT.server_private)).toHex(),
    ...build(),
  };
  await Deno.writeTextFile(
    new URL("./enroll_v2.json", import.meta.url),
    JSON.stringify(out, null, 2) + "\n",
  );
}

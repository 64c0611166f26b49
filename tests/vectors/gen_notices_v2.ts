/**
 * Writes tests/vectors/notices_v2.json: the two key notices a reply can carry
 * (docs/PROTOCOL.md §16 server key notice `key: {pub, cert}`, §17 user key notice
 * `user_key: {hmac}`), each as the request that earns it and the sealed reply the daemon's
 * reply path (src/daemon/replies.ts) makes, from fixed keys, rotation salt, identity seed,
 * validity, ephemeral key, nonce, retry id, timestamp, server time and reply nonce.
 * Run: deno run --allow-write tests/vectors/gen_notices_v2.ts
 */
import { CHACHA20_POLY1305 } from "../../src/crypto/aead.ts";
import { signKeyCert } from "../../src/crypto/keycert.ts";
import { ed25519PublicFromPrivate, x25519PublicFromPrivate } from "../../src/crypto/keys.ts";
import { Replies, type ReplyChannel } from "../../src/daemon/replies.ts";
import { KeyRing } from "../../src/rotation/keyring.ts";
import { deriveGeneration } from "../../src/rotation/state.ts";
import {
  type OpenResult,
  ReplySealer,
  ReplyStatus,
  RequestOpener,
  sealRequest,
  type UserVerifier,
} from "../../src/wire/mod.ts";
import type { KeyNotice } from "../../src/wire/reply_body.ts";

/** The fixed inputs (also read by the test). */
export const INPUT = {
  /** Generation 0: the configured server key. */
  server_private: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
  /** Generation 1's salt (docs/KEYS.md §6). */
  rotation_salt: "2222222222222222222222222222222222222222222222222222222222222222",
  identity_seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  cert_not_before_ms: 1_795_999_700_000,
  cert_not_after_ms: 1_827_536_000_000,
  user_id: 7,
  /** The user's HMAC key before (user key rotation) and after. */
  user_hmac_old: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
  user_hmac_new: "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
  action_id: 1,
  ephemeral_private: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
  nonce: "000102030405060708090a0b0c0d0e0f",
  retry_id: "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
  session_id: "0102030405060708",
  timestamp_ms: 1_796_000_000_000,
  pad_to: 1200,
  server_time_ms: 1_796_000_000_007,
  reply_nonce: "a0a1a2a3a4a5a6a7a8a9aaab",
  reply_data: "pong",
};

/** One request and the reply that carries a notice. */
export interface NoticeVector {
  /** The request datagram (hex). */
  request: string;
  /** The reply body (UTF-8 JSON) as sealed. */
  body: string;
  /** The reply datagram (hex). */
  reply: string;
}

const hex = (s: string) => Uint8Array.fromHex(s);

/** Generation 0 and generation 1 (the rotated key) of the server. */
export function serverKeys() {
  const gen0Private = hex(INPUT.server_private);
  const gen0 = { x25519Private: gen0Private, x25519Public: x25519PublicFromPrivate(gen0Private) };
  const gen1 = deriveGeneration(gen0, { gen: 1, salt: hex(INPUT.rotation_salt).toBase64() });
  return { gen0, gen1 };
}

/** The certificate of generation 1 by the identity (docs/PROTOCOL.md §14). */
export function gen1Cert(): Uint8Array {
  return signKeyCert(hex(INPUT.identity_seed), {
    key: serverKeys().gen1.x25519Public,
    notBefore: INPUT.cert_not_before_ms,
    notAfter: INPUT.cert_not_after_ms,
  });
}

/** The vector's request to `serverPublic` made with `hmacKey` (deterministic). */
export function request(serverPublic: Uint8Array, hmacKey: Uint8Array) {
  return sealRequest(serverPublic, { kind: "hmac", key: hmacKey }, {
    type: "request",
    userId: INPUT.user_id,
    actionId: INPUT.action_id,
    sessionId: BigInt("0x" + INPUT.session_id),
    retryId: hex(INPUT.retry_id),
    nonce: hex(INPUT.nonce),
    timestamp: INPUT.timestamp_ms,
  }, { padTo: INPUT.pad_to, ephemeralPrivate: hex(INPUT.ephemeral_private), encHighBit: 0 });
}

/** A reply sealer with the vector's fixed nonce (the daemon's draws a random one). */
class FixedNonceSealer extends ReplySealer {
  override seal(fields: Parameters<ReplySealer["seal"]>[0]): Uint8Array {
    return super.seal(fields, { nonce: hex(INPUT.reply_nonce) });
  }
}

/** Seals the `pong` reply to an opened request through the daemon's reply path. */
function reply(
  opened: OpenResult,
  extra: { notice?: KeyNotice; userKey?: { hmac: string } },
): { body: string; reply: string } {
  if (!opened.ok) throw new Error(`the vector's request did not open: ${opened.reason}`);
  const r = opened.replier;
  const key = r.exportKey();
  const sent: Uint8Array[] = [];
  const channel: ReplyChannel = { closed: false, send: (d) => void sent.push(d) };
  const replies = new Replies({
    rate: 10,
    clock: () => INPUT.server_time_ms,
    count: () => {},
    messages: () => [],
  });
  replies.send(
    {
      channel,
      to: { transport: "udp", hostname: "192.0.2.1", port: 40000 },
      budget: INPUT.pad_to,
      sealer: new FixedNonceSealer(r.version, r.requestId, () => key),
      requestId: opened.msg.nonce,
      ...extra,
    },
    ReplyStatus.Ok,
    { data: INPUT.reply_data },
  );
  if (sent.length !== 1) throw new Error("no reply");
  return { body: sealedBody(sent[0], key), reply: sent[0].toHex() };
}

/** The body of a sealed reply, read with the reply key (docs/PROTOCOL.md §6 offsets). */
function sealedBody(datagram: Uint8Array, key: Uint8Array): string {
  const inner = CHACHA20_POLY1305.open(
    key,
    datagram.subarray(0, 12),
    new Uint8Array(0),
    datagram.subarray(12),
  );
  if (inner === null) throw new Error("reply does not open");
  const len = (inner[34] << 8) | inner[35];
  return new TextDecoder().decode(inner.subarray(36, 36 + len));
}

/** Builds both vectors' outputs from {@linkcode INPUT} with src/. */
export function build(): { server_key_notice: NoticeVector; user_key_notice: NoticeVector } {
  const { gen0, gen1 } = serverKeys();
  const clock = () => INPUT.timestamp_ms;
  const oldHmac = hex(INPUT.user_hmac_old);
  const newHmac = hex(INPUT.user_hmac_new);

  // §16: a request sealed to generation 0 while generation 1 is current (grace period).
  const r1 = request(gen0.x25519Public, oldHmac);
  const ring = new KeyRing({ ...gen1, clock }, gen0);
  const lookupOld = (id: number): UserVerifier | undefined =>
    id === INPUT.user_id ? { hmacKey: oldHmac } : undefined;
  const o1 = ring.open(r1.datagram, lookupOld);
  if (!o1.ok || !o1.stale) throw new Error("the server key notice's request must be stale");
  const notice = { pub: gen1.x25519Public.toBase64(), cert: gen1Cert().toBase64() };

  // §17: a request made with the user's previous HMAC key, to the current server key.
  const r2 = request(gen1.x25519Public, oldHmac);
  const opener = new RequestOpener({ ...gen1, clock });
  const lookupRotated = (id: number): UserVerifier | undefined =>
    id === INPUT.user_id ? { hmacKey: newHmac, previousHmacKey: oldHmac } : undefined;
  const o2 = opener.open(r2.datagram, lookupRotated);
  if (!o2.ok || !o2.oldUserKey) {
    throw new Error("the user key notice's request must use the old key");
  }

  return {
    server_key_notice: {
      request: r1.datagram.toHex(),
      ...reply(o1, { notice }),
    },
    user_key_notice: {
      request: r2.datagram.toHex(),
      ...reply(o2, { userKey: { hmac: newHmac.toBase64() } }),
    },
  };
}

if (import.meta.main) {
  const { gen0, gen1 } = serverKeys();
  const out = {
    description: "siglatch v2 key notices in replies (docs/PROTOCOL.md §16 server key, " +
      "§17 user key): request and sealed reply",
    ...INPUT,
    server_public_gen0: gen0.x25519Public.toHex(),
    server_private_gen1: gen1.x25519Private.toHex(),
    server_public_gen1: gen1.x25519Public.toHex(),
    identity_public: ed25519PublicFromPrivate(hex(INPUT.identity_seed)).toHex(),
    cert_gen1: gen1Cert().toHex(),
    ...build(),
  };
  await Deno.writeTextFile(
    new URL("./notices_v2.json", import.meta.url),
    JSON.stringify(out, null, 2) + "\n",
  );
}

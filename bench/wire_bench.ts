/**
 * Wire protocol benchmarks (one core): `deno bench --allow-read bench/wire_bench.ts`.
 * Goals: garbage rejection ≥ 150,000/s; valid request open+verify ≥ 15,000/s.
 * Raw primitives give the floor each path is built on.
 */
import { createHash, createHmac, diffieHellman, randomBytes, sign, verify } from "node:crypto";
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { AES_256_GCM, CHACHA20_POLY1305 } from "../src/crypto/aead.ts";
import {
  ed25519PrivateKeyObject,
  ed25519PublicFromPrivate,
  ed25519PublicKeyObject,
  generateX25519,
  x25519PrivateKeyObject,
  x25519PublicKeyObject,
} from "../src/crypto/keys.ts";
import {
  CookieChecker,
  openCookieReply,
  ReplayGuard,
  ReplyStatus,
  RequestOpener,
  sealRequest,
} from "../src/wire/mod.ts";

const server = generateX25519();
const hmacKey = new Uint8Array(randomBytes(32));
const edSeed = new Uint8Array(randomBytes(32));
const edPublic = ed25519PublicFromPrivate(edSeed);
const users = new Map([[1, { hmacKey }], [2, { ed25519Public: edPublic }]]);
const lookup = (id: number) => users.get(id);
const now = Date.now();
const opener = new RequestOpener({
  x25519Private: server.privateKey,
  x25519Public: server.publicKey,
  clock: () => now,
});
const openerNoWrongMode = new RequestOpener({
  x25519Private: server.privateKey,
  x25519Public: server.publicKey,
  clock: () => now,
  detectWrongMode: false,
});

const garbage = Array.from({ length: 256 }, () => new Uint8Array(randomBytes(200)));
const payload = new TextEncoder().encode("open ssh for 5 minutes");
const hmacReq = sealRequest(server.publicKey, { kind: "hmac", key: hmacKey }, {
  type: "request",
  userId: 1,
  actionId: 1,
  payload,
}, { now });
const edReq = sealRequest(server.publicKey, { kind: "ed25519", privateKey: edSeed }, {
  type: "request",
  userId: 2,
  actionId: 1,
  payload,
}, { now });
const opened = opener.open(hmacReq.datagram, lookup);
if (!opened.ok) throw new Error("setup");
const replier = opened.replier;
const replyBody = new Uint8Array(300);
const replyDatagram = replier.seal({ status: 0, serverTime: now, body: replyBody });

let i = 0;
Deno.bench("reject random garbage (size + mac1, + wrong-mode check)", {
  group: "reject",
  baseline: true,
}, () => {
  opener.prefilter(garbage[i++ & 255]);
});
Deno.bench("reject random garbage via open() (size + mac1 only)", { group: "reject" }, () => {
  openerNoWrongMode.open(garbage[i++ & 255], lookup);
});
Deno.bench("open + verify valid HMAC request", { group: "open", baseline: true }, () => {
  opener.open(hmacReq.datagram, lookup);
});
const v1Req = sealRequest(server.publicKey, { kind: "hmac", key: hmacKey }, {
  type: "request",
  userId: 1,
  actionId: 1,
  payload,
}, { now, version: 1 });
Deno.bench("open + verify valid HMAC request, v1 (old client)", { group: "open" }, () => {
  opener.open(v1Req.datagram, lookup);
});

// Cookies (wire v2): what an unproven datagram costs before any X25519.
const checker = new CookieChecker(server.publicKey, { clock: () => now });
const big = sealRequest(server.publicKey, { kind: "hmac", key: hmacKey }, {
  type: "request",
  userId: 1,
  actionId: 1,
  payload,
}, { now, padTo: 1200 });
const bigReply = checker.cookieReply(big.datagram, "192.0.2.1", 40000)!;
const learned = openCookieReply(server.publicKey, big.mac1, bigReply)!;
const proven = sealRequest(server.publicKey, { kind: "hmac", key: hmacKey }, {
  type: "request",
  userId: 1,
  actionId: 1,
  payload,
}, { now, padTo: 1200, cookie: learned.cookie });
const forged = proven.datagram.slice();
forged[forged.length - 1] ^= 1;
Deno.bench("checkMac2: valid mac2, 1200-byte request", { group: "cookie", baseline: true }, () => {
  checker.checkMac2(proven.datagram, "192.0.2.1", 40000);
});
Deno.bench("checkMac2: wrong mac2 (current secret; +1 HMAC pair after a rotation)", {
  group: "cookie",
}, () => {
  checker.checkMac2(forged, "192.0.2.1", 40000);
});
Deno.bench("checkMac2: all-zero mac2 (no cookie)", { group: "cookie" }, () => {
  checker.checkMac2(big.datagram, "192.0.2.1", 40000);
});
Deno.bench(
  "cookieReply (mac1 check + cookie + seal), 1200-byte request",
  { group: "cookie" },
  () => {
    checker.cookieReply(big.datagram, "192.0.2.1", 40000);
  },
);
Deno.bench("openCookieReply (client)", { group: "cookie" }, () => {
  openCookieReply(server.publicKey, big.mac1, bigReply);
});

Deno.bench("open + verify valid Ed25519 request", { group: "open" }, () => {
  opener.open(edReq.datagram, lookup);
});
let n = 0;
const guard = new ReplayGuard({ clock: () => now, maxEntries: 10_000_000 });
const nonce = new Uint8Array(16);
Deno.bench("open + verify HMAC request + replay guard", { group: "open" }, () => {
  const r = opener.open(hmacReq.datagram, lookup);
  if (r.ok) {
    new DataView(nonce.buffer).setUint32(0, n++);
    guard.checkAndAdd(nonce, now);
  }
});
Deno.bench("seal reply (300-byte body)", { group: "reply" }, () => {
  replier.seal({ status: ReplyStatus.Ok, serverTime: now, body: replyBody });
});
Deno.bench("open reply (client)", { group: "reply" }, () => {
  hmacReq.reply.open(replyDatagram);
});
Deno.bench("seal HMAC request (client)", { group: "reply" }, () => {
  sealRequest(server.publicKey, { kind: "hmac", key: hmacKey }, {
    type: "request",
    userId: 1,
    actionId: 1,
    payload,
  }, { now });
});

// Raw primitives: the floor.
const data200 = new Uint8Array(randomBytes(200));
const k32 = new Uint8Array(randomBytes(32));
const sha = createHash("sha256").update(k32);
Deno.bench("primitive: SHA-256 (state copy) over 184 bytes = mac1", { group: "primitive" }, () => {
  sha.copy().update(data200.subarray(0, 184)).digest();
});
Deno.bench("primitive: HMAC-SHA256 over 200 bytes", { group: "primitive" }, () => {
  createHmac("sha256", k32).update(data200).digest();
});
const skObj = x25519PrivateKeyObject(server.privateKey);
const peer = generateX25519();
const peerObj = x25519PublicKeyObject(peer.publicKey);
Deno.bench("primitive: X25519 (node:crypto)", { group: "primitive" }, () => {
  diffieHellman({ privateKey: skObj, publicKey: peerObj });
});
Deno.bench("primitive: X25519 incl. raw→KeyObject import", { group: "primitive" }, () => {
  diffieHellman({ privateKey: skObj, publicKey: x25519PublicKeyObject(peer.publicKey) });
});
const iv = new Uint8Array(12);
for (const aead of [CHACHA20_POLY1305, AES_256_GCM]) {
  const sealed = aead.seal(k32, iv, new Uint8Array(0), data200);
  Deno.bench(`primitive: AEAD open 0x000${aead.id} (200 bytes)`, { group: "primitive" }, () => {
    aead.open(k32, iv, new Uint8Array(0), sealed);
  });
}
const edObj = ed25519PrivateKeyObject(edSeed);
const sig = sign(null, data200, edObj);
const edPubObj = ed25519PublicKeyObject(edPublic);
Deno.bench("primitive: Ed25519 verify", { group: "primitive" }, () => {
  verify(null, data200, edPubObj, sig);
});

// For comparison: @hpke/core (Web Crypto, async) open of one message.
const hs = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});
const rkp = await hs.kem.generateKeyPair();
const sender = await hs.createSenderContext({ recipientPublicKey: rkp.publicKey });
const hct = await sender.seal(data200.slice().buffer);
Deno.bench(
  "@hpke/core: setup recipient + open (AES-256-GCM, awaited)",
  { group: "hpke-core" },
  async () => {
    const r = await hs.createRecipientContext({ recipientKey: rkp, enc: sender.enc });
    await r.open(hct);
  },
);

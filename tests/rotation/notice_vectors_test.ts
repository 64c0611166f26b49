/**
 * The key notice vectors (docs/PROTOCOL.md §16, §17): src/ reproduces every byte of both
 * requests and replies; the client opens each reply with its request's key and finds the
 * notice; the server key notice's certificate verifies under the identity and names the new
 * key; each request opens only as the notice says (sealed to the previous server key; made
 * with the previous user key).
 */
import assert from "node:assert/strict";
import { verifyKeyCert } from "../../src/crypto/keycert.ts";
import { RequestOpener } from "../../src/wire/mod.ts";
import { decodeReplyBody } from "../../src/wire/reply_body.ts";
import { build, INPUT, request, serverKeys } from "../vectors/gen_notices_v2.ts";

type NoticeVector = { request: string; body: string; reply: string };
const vector = JSON.parse(
  await Deno.readTextFile(new URL("../vectors/notices_v2.json", import.meta.url)),
) as Record<string, string> & {
  server_key_notice: NoticeVector;
  user_key_notice: NoticeVector;
};
const hex = (s: string) => Uint8Array.fromHex(s);

Deno.test("notice vectors: src/ reproduces both requests, bodies and replies", () => {
  const got = build();
  assert.deepEqual(got.server_key_notice, vector.server_key_notice);
  assert.deepEqual(got.user_key_notice, vector.user_key_notice);
  const { gen0, gen1 } = serverKeys();
  assert.equal(gen0.x25519Public.toHex(), vector.server_public_gen0);
  assert.equal(gen1.x25519Public.toHex(), vector.server_public_gen1);
  assert.equal(gen1.x25519Private.toHex(), vector.server_private_gen1);
});

Deno.test("notice vectors: the server key notice opens for the client and its certificate verifies", () => {
  const v = vector.server_key_notice;
  const sealed = request(hex(vector.server_public_gen0), hex(INPUT.user_hmac_old));
  assert.equal(sealed.datagram.toHex(), v.request);
  const opened = sealed.reply.open(hex(v.reply));
  assert.ok(opened.ok);
  assert.equal(new TextDecoder().decode(opened.reply.body), v.body);
  const body = decodeReplyBody(opened.reply.body);
  assert.equal(body.data, INPUT.reply_data);
  assert.equal(body.key?.pub, hex(vector.server_public_gen1).toBase64());
  const cert = Uint8Array.fromBase64(body.key!.cert!);
  assert.equal(cert.toHex(), vector.cert_gen1);
  // §14 offsets: key, not_before, not_after, signature.
  const dv = new DataView(cert.buffer);
  assert.equal(cert.subarray(0, 32).toHex(), vector.server_public_gen1);
  assert.equal(Number(dv.getBigUint64(32)), INPUT.cert_not_before_ms);
  assert.equal(Number(dv.getBigUint64(40)), INPUT.cert_not_after_ms);
  const ok = verifyKeyCert(hex(vector.identity_public), cert, INPUT.timestamp_ms);
  assert.ok(ok.ok && ok.cert.key.toHex() === vector.server_public_gen1);
  const other = verifyKeyCert(new Uint8Array(32).fill(1), cert, INPUT.timestamp_ms);
  assert.equal(other.ok, false);
  // Sealed to generation 0: generation 1 alone does not open it (bad mac1).
  const gen1Only = new RequestOpener({
    x25519Private: hex(vector.server_private_gen1),
    x25519Public: hex(vector.server_public_gen1),
    clock: () => INPUT.timestamp_ms,
  });
  const r = gen1Only.open(hex(v.request), () => ({ hmacKey: hex(INPUT.user_hmac_old) }));
  assert.equal(!r.ok && r.reason, "bad_mac1");
});

Deno.test("notice vectors: the user key notice opens for the client; the request is the old key's", () => {
  const v = vector.user_key_notice;
  const sealed = request(hex(vector.server_public_gen1), hex(INPUT.user_hmac_old));
  assert.equal(sealed.datagram.toHex(), v.request);
  const opened = sealed.reply.open(hex(v.reply));
  assert.ok(opened.ok);
  const body = decodeReplyBody(opened.reply.body);
  assert.deepEqual(body, {
    data: INPUT.reply_data,
    user_key: { hmac: hex(INPUT.user_hmac_new).toBase64() },
  });
  // Another request's key does not open the reply.
  const stranger = request(hex(vector.server_public_gen0), hex(INPUT.user_hmac_old));
  assert.equal(stranger.reply.open(hex(v.reply)).ok, false);
  const opener = new RequestOpener({
    x25519Private: hex(vector.server_private_gen1),
    x25519Public: hex(vector.server_public_gen1),
    clock: () => INPUT.timestamp_ms,
  });
  const newOnly = opener.open(hex(v.request), () => ({ hmacKey: hex(INPUT.user_hmac_new) }));
  assert.equal(!newOnly.ok && newOnly.reason, "bad_auth", "made with the previous key");
  const both = opener.open(hex(v.request), () => ({
    hmacKey: hex(INPUT.user_hmac_new),
    previousHmacKey: hex(INPUT.user_hmac_old),
  }));
  assert.ok(both.ok && both.oldUserKey);
});

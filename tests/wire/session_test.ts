import assert from "node:assert/strict";
import { createCipheriv, createHmac } from "node:crypto";
import fc from "fast-check";
import { x25519PublicFromPrivate } from "../../src/crypto/keys.ts";
import { RequestFlag, RequestOpener } from "../../src/wire/mod.ts";
import {
  deriveSessionKeys,
  encodeAnswer,
  encodeCommand,
  openSession,
  parseAnswer,
  parseCommand,
  sealSession,
  SessionC2S,
} from "../../src/wire/session.ts";

const V = JSON.parse(
  await Deno.readTextFile(new URL("../vectors/session_v2.json", import.meta.url)),
);
const hex = (s: string) => Uint8Array.fromHex(s);

/** HKDF-SHA256 (RFC 5869) with node:crypto alone, for an independent check. */
function hkdf(salt: Uint8Array, ikm: Uint8Array, info: string): Uint8Array {
  const prk = createHmac("sha256", salt).update(ikm).digest();
  return new Uint8Array(
    createHmac("sha256", prk).update(info).update(new Uint8Array([1])).digest(),
  );
}

Deno.test("session vectors: the request opens, its reply key gives the session keys and datagrams", () => {
  const server = hex(V.server_private);
  const opener = new RequestOpener({
    x25519Private: server,
    x25519Public: x25519PublicFromPrivate(server),
    clock: () => V.timestamp,
  });
  const opened = opener.open(hex(V.request), () => ({ hmacKey: hex(V.hmac_key) }));
  assert.ok(opened.ok, "the vector request opens");
  assert.equal(opened.msg.flags & RequestFlag.Session, RequestFlag.Session);
  assert.equal(opened.replier.exportKey().toHex(), V.reply_key, "server's reply key");
  const id = BigInt(`0x${V.session_id}`);
  const keys = deriveSessionKeys(hex(V.reply_key), id);
  assert.equal(keys.c2s.toHex(), V.c2s_key);
  assert.equal(keys.s2c.toHex(), V.s2c_key);
  // Independently: HKDF with node:crypto.
  const ikm = new Uint8Array([...hex(V.reply_key), ...hex(V.session_id)]);
  const salt = new TextEncoder().encode("siglatch v2 session");
  assert.equal(hkdf(salt, ikm, "siglatch v2 session c2s").toHex(), V.c2s_key);
  assert.equal(hkdf(salt, ikm, "siglatch v2 session s2c").toHex(), V.s2c_key);

  const cmd = encodeCommand({
    kind: SessionC2S.Command,
    cmd: V.command.cmd,
    actionId: V.command.action_id,
    seq: 0,
    payload: new TextEncoder().encode(V.command.payload),
  });
  assert.equal(cmd.toHex(), V.command.inner);
  assert.equal(sealSession(keys.c2s, id, V.command.counter, cmd).toHex(), V.command_datagram);
  // Independently: ChaCha20-Poly1305 with node:crypto, nonce 0^4 ‖ counter, AAD the header.
  const header = hex(V.command_datagram).subarray(0, 16);
  const nonce = new Uint8Array(12);
  nonce.set(header.subarray(8, 16), 4);
  const c = createCipheriv("chacha20-poly1305", keys.c2s, nonce, { authTagLength: 16 });
  c.setAAD(header, { plaintextLength: cmd.length });
  const ct = new Uint8Array([...c.update(cmd), ...c.final(), ...c.getAuthTag()]);
  assert.equal(new Uint8Array([...header, ...ct]).toHex(), V.command_datagram);

  const opened2 = openSession(keys.c2s, hex(V.command_datagram));
  assert.ok(opened2);
  const parsed = parseCommand(opened2);
  assert.equal(parsed?.actionId, V.command.action_id);
  assert.equal(new TextDecoder().decode(parsed?.payload), V.command.payload);

  const answerInner = openSession(keys.s2c, hex(V.answer_datagram));
  assert.ok(answerInner);
  assert.equal(answerInner.toHex(), V.answer.inner);
  const a = parseAnswer(answerInner);
  assert.equal(a?.cmd, V.answer.cmd);
  assert.equal(new TextDecoder().decode(a?.body), V.answer.body);
  assert.equal(openSession(keys.c2s, hex(V.answer_datagram)), null, "directions do not mix");
});

Deno.test("session codec: round trips, and any flipped bit of a datagram fails to open", () => {
  const keys = deriveSessionKeys(new Uint8Array(32).fill(7), 42n);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.nat(0xffff),
      fc.nat(2 ** 40),
      fc.nat(),
      (payload, actionId, counter, flip) => {
        const inner = encodeCommand({
          kind: SessionC2S.Command,
          cmd: 9,
          actionId,
          seq: 0,
          payload,
        });
        const d = sealSession(keys.c2s, 42n, counter, inner);
        const back = parseCommand(openSession(keys.c2s, d)!);
        assert.equal(back?.actionId, actionId);
        assert.deepEqual(back?.payload, payload);
        const bad = d.slice();
        bad[flip % bad.length] ^= 1 << (flip % 8);
        assert.equal(openSession(keys.c2s, bad), null);
      },
    ),
    { numRuns: 200 },
  );
  const ans = encodeAnswer({
    kind: 1,
    status: 0,
    flags: 1,
    cmd: 3,
    exitCode: -2,
    seq: 0,
    body: new Uint8Array([1, 2]),
  });
  assert.equal(parseAnswer(ans)?.exitCode, -2);
  assert.equal(parseAnswer(ans.subarray(0, ans.length - 1)), null, "length must match");
  assert.equal(parseCommand(new Uint8Array(16).fill(0)), null, "kind 0 is refused");
});

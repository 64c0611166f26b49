/**
 * The invite and enroll-request vector (docs/PROTOCOL.md §15): src/ reproduces every byte;
 * the invite's fields are read back with plain byte offsets; the server opens the request as
 * an `enroll` under the invite's secret and not under any other key.
 */
import assert from "node:assert/strict";
import { decodeInvite, parseEnrollPayload } from "../../src/enroll/invite.ts";
import { RequestOpener } from "../../src/wire/mod.ts";
import { build, INPUT } from "../vectors/gen_enroll_v2.ts";

const vector = JSON.parse(
  await Deno.readTextFile(new URL("../vectors/enroll_v2.json", import.meta.url)),
) as Record<string, string | number>;

Deno.test("enroll vector: src/ reproduces the invite, the payload and the datagram", () => {
  const got = build();
  assert.equal(got.invite, vector.invite);
  assert.equal(got.invite_pinned, vector.invite_pinned);
  assert.equal(got.payload, vector.payload);
  assert.equal(got.datagram, vector.datagram);
});

Deno.test("enroll vector: the invite's bytes at their documented offsets", () => {
  const text = String(vector.invite);
  assert.ok(text.startsWith("sli1."));
  const b = Uint8Array.fromBase64(text.slice(5), { alphabet: "base64url" });
  const dv = new DataView(b.buffer);
  assert.equal(b[0], 1);
  assert.equal(dv.getUint16(1), INPUT.port);
  assert.equal(dv.getUint32(3), INPUT.invite_id);
  assert.equal(b.subarray(7, 39).toHex(), INPUT.secret);
  assert.equal(b.subarray(39, 71).toHex(), vector.server_public);
  assert.equal(new TextDecoder().decode(b.subarray(72, 72 + b[71])), INPUT.host);
  const inv = decodeInvite(text);
  assert.equal(inv.host, INPUT.host);
  assert.throws(() => decodeInvite(text.slice(0, -2)), /invite/);
  assert.throws(() => decodeInvite("sli2." + text.slice(5)), /not an invite/);
});

Deno.test("enroll vector: the pinned invite (format 2) at its documented offsets", () => {
  const text = String(vector.invite_pinned);
  const b = Uint8Array.fromBase64(text.slice(5), { alphabet: "base64url" });
  const dv = new DataView(b.buffer);
  assert.equal(b[0], 2);
  assert.equal(dv.getUint16(1), INPUT.port);
  assert.equal(dv.getUint32(3), INPUT.invite_id);
  assert.equal(b.subarray(7, 39).toHex(), INPUT.secret);
  assert.equal(b.subarray(39, 71).toHex(), vector.server_public);
  assert.equal(b.subarray(71, 103).toHex(), INPUT.identity_public);
  assert.equal(new TextDecoder().decode(b.subarray(104, 104 + b[103])), INPUT.host);
  assert.equal(b.length, 104 + b[103]);
  const inv = decodeInvite(text);
  assert.equal(inv.identity?.toHex(), INPUT.identity_public);
  assert.equal(decodeInvite(String(vector.invite)).identity, undefined, "format 1: no pin");
  assert.throws(() => decodeInvite(text.slice(0, -2)), /invite/);
  const three = b.slice();
  three[0] = 3;
  assert.throws(
    () => decodeInvite("sli1." + three.toBase64({ alphabet: "base64url", omitPadding: true })),
    /bad length or version/,
  );
});

Deno.test("enroll vector: opens as an enroll request under the invite's secret only", () => {
  const opener = new RequestOpener({
    x25519Private: Uint8Array.fromHex(INPUT.server_private),
    x25519Public: Uint8Array.fromHex(String(vector.server_public)),
    clock: () => INPUT.timestamp_ms,
  });
  const datagram = Uint8Array.fromHex(String(vector.datagram));
  const secret = Uint8Array.fromHex(INPUT.secret);
  const r = opener.open(datagram, (id) => id === INPUT.invite_id ? { hmacKey: secret } : undefined);
  assert.ok(r.ok);
  assert.equal(r.msg.type, "enroll");
  assert.equal(r.msg.userId, INPUT.invite_id);
  assert.equal(parseEnrollPayload(r.msg.payload)?.toHex(), INPUT.user_ed25519_public);
  const wrong = opener.open(datagram, () => ({ hmacKey: new Uint8Array(32) }));
  assert.equal(wrong.ok, false);
  assert.equal(!wrong.ok && wrong.reason, "bad_auth");
});

import assert from "node:assert/strict";
import { ReplayGuard, sealRequest } from "../../src/wire/mod.ts";
import { AUTHS, lookup, NOW, opener, remac, serverPublic } from "./_fixtures.ts";

/** What the daemon does: open, then the replay guard on the request id. */
function accept(op: ReturnType<typeof opener>, guard: ReplayGuard, d: Uint8Array): string {
  const r = op.open(d, lookup);
  if (!r.ok) return r.reason;
  return guard.checkAndAdd(r.msg.nonce, r.msg.timestamp) ?? "accepted";
}

Deno.test("a byte-identical replay is refused with reason replay (both auth kinds)", () => {
  for (const kind of ["hmac", "ed25519"] as const) {
    const op = opener();
    const guard = new ReplayGuard({ clock: () => NOW });
    const s = sealRequest(serverPublic, AUTHS[kind].auth, {
      type: "request",
      userId: AUTHS[kind].userId,
      actionId: 1,
    }, {
      now: NOW,
    });
    assert.equal(accept(op, guard, s.datagram), "accepted");
    for (let i = 0; i < 3; i++) assert.equal(accept(op, guard, s.datagram), "replay");
  }
});

Deno.test("a re-sealed request reusing the nonce (new ephemeral key) is still a replay", () => {
  const op = opener();
  const guard = new ReplayGuard({ clock: () => NOW });
  const nonce = new Uint8Array(16).fill(5);
  const f = { type: "request" as const, userId: AUTHS.hmac.userId, actionId: 1, nonce };
  assert.equal(
    accept(op, guard, sealRequest(serverPublic, AUTHS.hmac.auth, f, { now: NOW }).datagram),
    "accepted",
  );
  assert.equal(
    accept(op, guard, sealRequest(serverPublic, AUTHS.hmac.auth, f, { now: NOW }).datagram),
    "replay",
  );
});

Deno.test("the same datagram with enc's top bit flipped and mac1 recomputed is not accepted", () => {
  // The AEAD binds the wire form of enc (aad), so this does not even decrypt.
  const op = opener();
  const s = sealRequest(serverPublic, AUTHS.hmac.auth, {
    type: "request",
    userId: AUTHS.hmac.userId,
    actionId: 1,
  }, {
    now: NOW,
  });
  const x = s.datagram.slice();
  x[31] ^= 0x80;
  assert.deepEqual(op.open(remac(x, "secure"), lookup), { ok: false, reason: "decrypt_failed" });
});

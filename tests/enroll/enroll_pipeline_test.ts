/**
 * Enroll requests through the daemon's pipeline in process: a replayed enroll datagram gets
 * nothing; without the invite's secret nothing opens; enrolled users survive a restart; the
 * pending table is bounded; an enroll request under a user's own key does nothing.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ReplyStatus, sealRequest } from "../../src/wire/mod.ts";
import { decodeReplyBody } from "../../src/wire/reply_body.ts";
import { generateEd25519 } from "../../src/crypto/keys.ts";
import { enrollPayload, INVITE_ID_MIN } from "../../src/enroll/invite.ts";
import { MAX_PENDING } from "../../src/enroll/registry.ts";
import { type InProcess, inProcess, overFixture } from "../daemon/_inprocess.ts";

function sealEnroll(p: InProcess, id: number, secret: Uint8Array, key = generateEd25519()) {
  return sealRequest(p.fx.serverPublic, { kind: "hmac", key: secret }, {
    type: "enroll",
    userId: id,
    actionId: 0,
    payload: enrollPayload(key.publicKey),
  }, { padTo: 1200 });
}

async function answer(p: InProcess, req: ReturnType<typeof sealEnroll>, from?: Deno.NetAddr) {
  const before = p.channel.sent.length;
  await p.deliver(req.datagram, from);
  const all = await p.replies(before + 1, 2000);
  if (all.length === before) return undefined;
  const opened = req.reply.open(all[before]);
  assert.ok(opened.ok);
  return { status: opened.reply.status, body: decodeReplyBody(opened.reply.body) };
}

Deno.test("enroll (pipeline): replay, no secret, own key, restart, bounded pending", async () => {
  let now = Date.now();
  let p = await inProcess({ top: { limits: { open_workers: 0 } } }, { clock: () => now }, true);
  try {
    const { record, secret } = await p.daemon.enrollment.createInvite({
      name: "g1",
      actions: ["ping"],
      expiresMs: 3_600_000,
    });
    // Without the secret nothing opens: silence.
    const forged = sealEnroll(p, record.id, new Uint8Array(randomBytes(32)));
    assert.equal(await answer(p, forged), undefined);
    assert.equal(p.daemon.counters.drop_bad_auth, 1);

    const req = sealEnroll(p, record.id, secret);
    const a = await answer(p, req);
    assert.equal(a?.status, ReplyStatus.Ok);
    const data = a!.body.data as {
      state: string;
      user_id: number;
      actions: Record<string, number>;
    };
    assert.equal(data.state, "enrolled");
    assert.deepEqual(data.actions, { ping: 1 });
    assert.ok(p.daemon.runtime.users.has(data.user_id), "merged into the runtime's users");

    // The same datagram again: nothing at all (at once: dropped as a copy before opening;
    // later: opened and refused by the replay guard).
    assert.equal(await answer(p, req), undefined);
    assert.equal(p.daemon.counters.drop_copy, 1);
    now += 3000;
    assert.equal(await answer(p, req), undefined);
    assert.equal(p.daemon.counters.drop_replay, 1);

    // An enroll request under a user's own key does nothing.
    const own = sealRequest(p.fx.serverPublic, { kind: "hmac", key: p.fx.aliceKey }, {
      type: "enroll",
      userId: 1,
      actionId: 0,
      payload: enrollPayload(generateEd25519().publicKey),
    }, { padTo: 1200 });
    assert.equal(await answer(p, own as ReturnType<typeof sealEnroll>), undefined);
    assert.equal(p.daemon.counters.enroll_not_invite, 1);

    // Restart: the enrolled user is still there (state store), the invite still used.
    await p.close();
    p = await overFixture(p.fx, {}, true);
    assert.ok(p.daemon.runtime.users.has(data.user_id), "enrolled users survive a restart");
    const again = await answer(p, sealEnroll(p, record.id, secret));
    assert.equal(again?.status, ReplyStatus.Denied);
    assert.equal(again?.body.reason, "invite_used");

    // The pending table is bounded.
    for (let i = 0; i <= MAX_PENDING; i++) {
      const inv = await p.daemon.enrollment.createInvite({
        name: `w${i}`,
        actions: [],
        expiresMs: 3_600_000,
        approve: true,
      });
      // (each from its own address: replies are rate-limited per destination)
      const from = { transport: "udp" as const, hostname: `127.0.1.${i + 1}`, port: 40000 };
      const r = await answer(p, sealEnroll(p, inv.record.id, inv.secret), from);
      if (i < MAX_PENDING) {
        assert.equal((r?.body.data as { state: string }).state, "pending");
      } else {
        assert.equal(r?.body.reason, "pending_full");
      }
    }
    assert.ok(record.id >= INVITE_ID_MIN);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

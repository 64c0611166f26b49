/**
 * `keys.rotate_users_every`: user keys rotate on a schedule. Through a real daemon over
 * loopback UDP, the client follows each scheduled rotation with no manual step; on a real
 * Redis shared by two schedules (two nodes), each period rotates a user once, not once per
 * node, and a user whose rotation is still pending waits for it.
 */
import assert from "node:assert/strict";
import type { UserRuntime } from "../../src/daemon/runtime.ts";
import { UserKeySchedule } from "../../src/rotation/user_schedule.ts";
import { UserKeyRotation } from "../../src/rotation/user_keys.ts";
import { RedisStateStore } from "../../src/state/redis.ts";
import { makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { clientCopy } from "./_client_copy.ts";
import { startRedis } from "../_helpers/redis.ts";
import { skipWithout } from "../_helpers/system.ts";

Deno.test("rotation: keys.rotate_users_every rotates user keys by itself; the client follows", async () => {
  const fx = await makeFixture({ top: { keys: { rotate_users_every: "3s" } } });
  const { profile, keyFile } = await clientCopy(fx);
  const send = () => runCli(["send", "--profile", profile, "ping"]);
  const d = await startDaemon(fx.config);
  try {
    const key0 = await Deno.readTextFile(keyFile);
    await d.waitFor(/user alice: key rotated \(schedule\)/, 20_000);
    const first = await send();
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /user key rotated: .*alice\.hmac holds the new key/);
    const key1 = await Deno.readTextFile(keyFile);
    assert.notEqual(key1, key0);
    // The new key confirms; the next period rotates again and the client follows again.
    const confirm = await send();
    assert.equal(confirm.code, 0, confirm.stderr);
    assert.doesNotMatch(confirm.stderr, /rotated/);
    await d.waitFor(
      /user alice: key rotated \(schedule\)[^]*user alice: key rotated \(schedule\)/,
      20_000,
    );
    const second = await send();
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /user key rotated/);
    assert.notEqual(await Deno.readTextFile(keyFile), key1);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

function hmacUser(id: number, name: string, key: Uint8Array, prev?: Uint8Array): UserRuntime {
  return {
    config: { id, name } as UserRuntime["config"],
    verifier: { hmacKey: key, ...(prev ? { previousHmacKey: prev } : {}) },
    actionIds: new Set([1]),
  };
}

Deno.test(
  "rotation: keys.rotate_users_every on two nodes sharing Redis rotates once per period; a pending rotation waits",
  {
    ignore: skipWithout("redis-server", "redis-server"),
  },
  async () => {
    const redis = await startRedis();
    const t = { now: 1_800_000_000_000 };
    const clock = () => t.now;
    const stores = [
      await RedisStateStore.connect(redis.url, "sched:"),
      await RedisStateStore.connect(redis.url, "sched:"),
    ];
    try {
      const keys = stores.map((s) => new UserKeyRotation(s, clock));
      const nodes = stores.map((s, i) => new UserKeySchedule(s, keys[i], clock));
      const key0 = new Uint8Array(32).fill(1);
      const ed = { ...hmacUser(3, "ed", key0), verifier: { ed25519Public: key0 } };
      const run = (i: number, users: UserRuntime[]) =>
        nodes[i].run({ users, everyMs: 60_000, graceMs: 3_600_000 });
      const alice = hmacUser(1, "alice", key0);

      // First sight: nothing is due yet, on either node.
      assert.deepEqual(await run(0, [alice, ed]), []);
      assert.deepEqual(await run(1, [alice, ed]), []);
      t.now += 59_999;
      assert.deepEqual(await Promise.all([run(0, [alice]), run(1, [alice])]), [[], []]);

      // The period is up: both nodes try at once, one rotates.
      t.now += 1;
      const [a, b] = await Promise.all([run(0, [alice, ed]), run(1, [alice, ed])]);
      assert.deepEqual([...a, ...b], ["alice"], "one rotation for the cluster");
      await keys[0].sync();
      await keys[1].sync();
      const rec0 = keys[0].apply({ users: new Map([[1, alice]]) } as never).users.get(1)!;
      const rec1 = keys[1].apply({ users: new Map([[1, alice]]) } as never).users.get(1)!;
      assert.deepEqual(rec0.verifier.hmacKey, rec1.verifier.hmacKey, "one new key, both nodes");
      assert.deepEqual(rec0.verifier.previousHmacKey, key0);
      assert.ok(rec0.keyNotice);

      // Pending (the user has not used the new key): the next period waits for it.
      t.now += 120_000;
      assert.deepEqual(await Promise.all([run(0, [rec0]), run(1, [rec1])]), [[], []]);
      // Confirmed: due again (the period counts from the last rotation), rotated once.
      const confirmed = hmacUser(1, "alice", rec0.verifier.hmacKey!);
      const [c, e] = await Promise.all([run(0, [confirmed]), run(1, [confirmed])]);
      assert.deepEqual([...c, ...e], ["alice"]);
    } finally {
      for (const s of stores) await s.close();
      await redis.stop();
    }
  },
);

/**
 * Two daemons sharing one real Redis state store (a cluster): a ban made on one node drops
 * the source on the other once it re-reads the shared list, and lifting it there restores it.
 */
import assert from "node:assert/strict";
import { AdminClient } from "../../src/client/admin/client.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";
import { aliceRequest, type Fixture } from "../_helpers/daemon.ts";
import { eventually, withTwoNodes } from "../_helpers/cluster.ts";
import { skipWithout } from "../_helpers/system.ts";

function pingFrom(fx: Fixture, bind: string) {
  return aliceRequest(fx, 1, "", { bind, timeoutMs: 400 });
}

Deno.test("cluster: a ban on one node reaches the other through the shared Redis store", {
  ignore: skipWithout("redis-server", "redis-server"),
}, async () => {
  await withTwoNodes({ prefix: "cluster-test:" }, async ({ a, b }) => {
    const admin = await AdminClient.connect(`${a.dir}/run/admin.sock`);
    try {
      const source = "127.0.0.5";
      assert.equal((await pingFrom(b, source)).status, ReplyStatus.Ok, "node B serves it first");
      const r = await admin.request("ban", { addr: source, for: "10m", reason: "cluster-test" });
      assert.ok(r.ok, r.ok ? "" : r.error);
      assert.equal((await pingFrom(a, source)).answered, false, "node A drops it at once");
      const dropped = await eventually(async () => !(await pingFrom(b, source)).answered, 8000);
      assert.ok(dropped, "node B picked the ban up from Redis");
      assert.equal((await pingFrom(b, "127.0.0.6")).status, ReplyStatus.Ok, "others still served");
      const u = await admin.request("unban", { addr: source });
      assert.ok(u.ok, u.ok ? "" : u.error);
      const back = await eventually(
        async () => (await pingFrom(b, source)).status === ReplyStatus.Ok,
        8000,
      );
      assert.ok(back, "node B lifted the ban too");
    } finally {
      admin.close();
    }
  });
});

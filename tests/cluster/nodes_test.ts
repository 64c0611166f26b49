/**
 * Cluster node heartbeats: two nodes sharing a real Redis see each other, a node that
 * stops is gone at once, a node that stops beating is gone after the TTL, and records that
 * are not heartbeats are skipped.
 * @module
 */
import assert from "node:assert/strict";
import { RedisStateStore } from "../../src/state/redis.ts";
import { KvStateStore } from "../../src/state/kv.ts";
import { NODE_TTL_MS, NodeHeartbeat, NODES_NS } from "../../src/cluster/nodes.ts";
import { startRedis } from "../_helpers/redis.ts";
import { skipWithout } from "../_helpers/system.ts";

const facts = (v: number) => ({
  configVersion: () => v,
  listening: () => ["127.0.0.1:62201"],
});

Deno.test({
  name: "cluster nodes: two daemons on one Redis list each other; a stopped node leaves",
  ignore: skipWithout("redis-server", "redis-server"),
}, async () => {
  const redis = await startRedis();
  const sa = await RedisStateStore.connect(redis.url, "n:");
  const sb = await RedisStateStore.connect(redis.url, "n:");
  const a = new NodeHeartbeat(sa, facts(1));
  const b = new NodeHeartbeat(sb, facts(3));
  try {
    await a.start();
    await b.start();
    const seenByA = await a.list();
    assert.deepEqual(seenByA.map((n) => [n.node, n.self]), [[a.id, true], [b.id, false]]);
    assert.equal(seenByA[1].config_version, 3);
    assert.deepEqual(seenByA[1].listening, ["127.0.0.1:62201"]);
    assert.equal(seenByA[1].pid, Deno.pid);
    // Something else in the namespace (a bad record, a record under another key) is skipped.
    await sa.set(NODES_NS, "junk", { node: "junk", pid: "no" });
    await sa.set(NODES_NS, "other", { ...seenByA[1], node: "not-other" });
    assert.equal((await b.list()).length, 2);
    await b.stop();
    assert.deepEqual((await a.list()).map((n) => n.node), [a.id]);
  } finally {
    await a.stop();
    await b.stop();
    await sa.close();
    await sb.close();
    await redis.stop();
  }
});

Deno.test("cluster nodes: a node that stops beating is gone once its record's TTL passes", async () => {
  const dir = await Deno.makeTempDir();
  const store = await KvStateStore.open(dir);
  let now = Date.now();
  const quiet = new NodeHeartbeat(store, facts(1), () => now);
  const live = new NodeHeartbeat(store, facts(1), () => now);
  try {
    await quiet.beat();
    await live.beat();
    assert.equal((await live.list()).length, 2);
    now += NODE_TTL_MS - 1000;
    await live.beat();
    const listed = await live.list();
    assert.equal(listed.length, 2);
    assert.equal(listed.find((n) => n.node === quiet.id)?.age_s, NODE_TTL_MS / 1000 - 1);
    now += 2000;
    assert.deepEqual((await live.list()).map((n) => n.node), [live.id]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

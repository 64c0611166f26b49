import assert from "node:assert/strict";
import { ReplyStatus, sealRequest } from "../../src/wire/mod.ts";
import { decodeReplyBody } from "../../src/wire/reply_body.ts";
import { loadConfig } from "../../src/config/load.ts";
import { buildRuntime } from "../../src/daemon/runtime.ts";
import { Daemon } from "../../src/daemon/daemon.ts";
import { RedisStateStore } from "../../src/state/redis.ts";
import { usageExtensions } from "../../src/admin/usage.ts";
import { AdminControl } from "../../src/admin/control.ts";
import { parseCommand } from "../../src/admin/protocol.ts";
import { CLIENT, type InProcess, inProcess, RecordingChannel } from "./_inprocess.ts";
import { makeFixture } from "../_helpers/daemon.ts";
import { startRedis } from "../_helpers/redis.ts";

/** Sends one request for `actionId` and returns its reply's status and reason. */
async function ask(p: InProcess, actionId: number): Promise<{ status: number; reason?: string }> {
  const before = p.channel.sent.length;
  const req = p.seal(actionId);
  await p.deliver(req.datagram);
  const all = await p.replies(before + 1);
  assert.equal(all.length, before + 1, "one reply");
  const opened = req.reply.open(all[before]);
  assert.ok(opened.ok);
  return {
    status: opened.reply.status,
    reason: decodeReplyBody(opened.reply.body).reason as string | undefined,
  };
}

Deno.test("usage: only requests that ran count; max_uses refuses, admin shows and resets", async () => {
  const p = await inProcess({
    actions: [{ id: 10, name: "slow", type: "exec", command: ["/bin/sleep", "1"] }],
    aliceActions: ["slow"],
    alice: { max_uses: 2 },
    top: { execution: { max_concurrent: 1, queue: 0 } },
  });
  try {
    const ext = usageExtensions(p.daemon);
    const total = async () => ((await ext.usage!("alice")) as { total: number }[])[0].total;
    // One slow action holds the only slot; a second one is told "busy": it did not run.
    const slow = p.seal(10);
    await p.deliver(slow.datagram);
    while (p.daemon.limiter.running === 0) await new Promise((r) => setTimeout(r, 5));
    const busy = await ask(p, 10);
    assert.equal(busy.status, ReplyStatus.Busy);
    assert.equal(await total(), 1, "the busy request gave its use back");
    const all = await p.replies(2, 5000);
    const opened = all.map((d) => slow.reply.open(d)).find((o) => o.ok);
    assert.ok(opened?.ok);
    assert.equal(opened.reply.status, ReplyStatus.Ok);
    assert.equal((await ask(p, 1)).status, ReplyStatus.Ok);
    const third = await ask(p, 1);
    assert.equal(third.status, ReplyStatus.Denied);
    assert.equal(third.reason, "max_uses_reached");
    const [row] = (await ext.usage!("alice")) as {
      total: number;
      today: number;
      max_uses: number;
    }[];
    assert.equal(row.total, 2, "the refused request is not counted");
    assert.equal(row.today, 2);
    assert.equal(row.max_uses, 2);
    // Through the control protocol, as `siglatch admin usage alice --reset` sends it.
    const control = new AdminControl(p.daemon, { extensions: ext });
    const parsed = parseCommand(["usage", "alice", "--reset"]);
    assert.ok(parsed.ok);
    await control.run(parsed.cmd, parsed.args);
    const listed = await control.run("usage", {}) as { user: string; total: number }[];
    assert.deepEqual(listed.map((r) => [r.user, r.total]), [["alice", 0]]);
    assert.equal((await ask(p, 1)).status, ReplyStatus.Ok, "allowed again after the reset");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("usage: max_uses_per_day refuses the day's extra use; a dry run counts nothing", async () => {
  const p = await inProcess({ alice: { max_uses_per_day: 1 } });
  try {
    assert.equal((await ask(p, 1)).status, ReplyStatus.Ok);
    const second = await ask(p, 1);
    assert.equal(second.reason, "max_uses_per_day_reached");
    const [row] = (await usageExtensions(p.daemon).usage!()) as { today: number }[];
    assert.equal(row.today, 1);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
  const dry = await inProcess({
    actions: [{ id: 10, name: "t", type: "exec", command: ["/bin/true"] }],
    aliceActions: ["t"],
    alice: { max_uses: 1 },
  }, { dryRun: true });
  try {
    assert.equal((await ask(dry, 10)).status, ReplyStatus.DryRun);
    assert.equal((await ask(dry, 10)).status, ReplyStatus.DryRun, "a dry run takes no use");
    const [row] = (await usageExtensions(dry.daemon).usage!()) as { total: number }[];
    assert.equal(row.total, 0);
  } finally {
    await dry.close();
    await dry.fx.cleanup();
  }
});

Deno.test("usage on Redis: two daemons share max_uses (exactly max_uses run cluster-wide)", async () => {
  const redis = await startRedis();
  const fx = await makeFixture({ alice: { max_uses: 3 } });
  const daemons: Daemon[] = [];
  try {
    const loaded = await loadConfig(fx.config);
    if (!loaded.ok) throw new Error("config");
    const channels: RecordingChannel[] = [];
    for (let i = 0; i < 2; i++) {
      const store = await RedisStateStore.connect(redis.url, { prefix: "t:" });
      daemons.push(new Daemon(await buildRuntime(loaded.config), store, { configPath: fx.config }));
      channels.push(new RecordingChannel());
    }
    const reqs = [];
    for (let i = 0; i < 4; i++) {
      const req = sealRequest(fx.serverPublic, { kind: "hmac", key: fx.aliceKey }, {
        type: "request",
        userId: 1,
        actionId: 1,
      }, { now: Date.now(), padTo: 1200 });
      reqs.push({ req, node: i % 2 });
      daemons[i % 2].pipeline.handle("main", req.datagram, CLIENT, channels[i % 2]);
    }
    const deadline = Date.now() + 5000;
    while (channels[0].sent.length + channels[1].sent.length < 4 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const statuses: number[] = [];
    for (const { req, node } of reqs) {
      for (const s of channels[node].sent) {
        const o = req.reply.open(s.datagram);
        if (o.ok) statuses.push(o.reply.status);
      }
    }
    assert.equal(statuses.filter((s) => s === ReplyStatus.Ok).length, 3);
    assert.equal(statuses.filter((s) => s === ReplyStatus.Denied).length, 1);
    for (const d of daemons) {
      const [row] = (await usageExtensions(d).usage!()) as { total: number }[];
      assert.equal(row.total, 3, "both nodes see the cluster's count");
    }
  } finally {
    for (const d of daemons) await d.stop(1000);
    await redis.stop();
    await fx.cleanup();
  }
});

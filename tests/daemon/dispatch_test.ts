import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { setupLogging, tapLogs } from "../../src/util/log.ts";
import { KvStateStore } from "../../src/state/kv.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";
import { inProcess, overFixture } from "./_inprocess.ts";
import { makeFixture } from "../_helpers/daemon.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs `fn` with every log record collected. */
async function withLogs<T>(fn: (records: LogRecord[]) => Promise<T>): Promise<T> {
  setupLogging({ level: "info", format: "json" });
  const records: LogRecord[] = [];
  const untap = tapLogs((r) => records.push(r));
  try {
    return await fn(records);
  } finally {
    untap();
  }
}

for (const dryRun of [false, true]) {
  Deno.test(`dispatch (dry run ${dryRun}): uses, nonces and the script ${dryRun ? "are untouched" : "happen"}`, async () => {
    await withLogs(async (records) => {
      const p = await inProcess({
        scripts: { "touch.sh": 'echo ran >> "$0.out"' },
        writable: true,
        actions: [{ id: 10, name: "touch", type: "exec", command: ["$DIR/touch.sh"] }],
        aliceActions: ["touch"],
        alice: { max_uses: 5 },
      }, { dryRun });
      try {
        const req = p.seal(10);
        p.deliver(req.datagram);
        const [reply] = await p.replies(1);
        const opened = req.reply.open(reply);
        assert.ok(opened.ok);
        assert.equal(opened.reply.status, dryRun ? ReplyStatus.DryRun : ReplyStatus.Ok);
        await p.close();
        const store = await KvStateStore.open(`${p.fx.dir}/state`);
        try {
          const uses = await store.increment("uses", "1", 0);
          const nonces = [];
          for await (const n of store.loadNonces(Date.now())) nonces.push(n);
          assert.equal(await exists(`${p.fx.dir}/touch.sh.out`), !dryRun, "the script ran");
          // The request's nonce, and the claim of its retry id.
          assert.equal(nonces.length, dryRun ? 0 : 2, "nonces written");
          assert.equal(uses, dryRun ? 0 : 1, "uses counted");
        } finally {
          await store.close();
        }
        if (dryRun) {
          const plan = records.find((r) => r.properties.decision === "dry_run");
          assert.ok(plan, "a dry-run line is logged");
          const logged = JSON.stringify(plan.properties.plan);
          assert.match(logged, /touch\.sh/, "the real argv is logged");
          assert.match(
            logged,
            /"run_as":"(siglatch|nobody)\(\d+:\d+\)"/,
            "the unprivileged default",
          );
        }
      } finally {
        await p.close();
        await p.fx.cleanup();
      }
    });
  });
}

Deno.test("dispatch dry run: a firewall action logs the address and ports it would open", async () => {
  await withLogs(async (records) => {
    const p = await inProcess({
      actions: [{
        id: 11,
        name: "ssh",
        type: "firewall",
        firewall: { ports: [{ proto: "tcp", port: 22 }], duration: "5m" },
      }],
      aliceActions: ["ssh"],
    }, { dryRun: true });
    try {
      const req = p.seal(11, undefined, { allowAddress: "127.0.0.1" });
      p.deliver(req.datagram);
      const opened = req.reply.open((await p.replies(1))[0]);
      assert.ok(opened.ok);
      assert.equal(opened.reply.status, ReplyStatus.DryRun);
      const plan = records.find((r) => r.properties.decision === "dry_run");
      assert.ok(plan);
      assert.deepEqual(
        {
          ...(plan.properties.plan as Record<string, unknown>),
          keepalive_ms: undefined,
        },
        {
          nft: "add element",
          address: "127.0.0.1",
          ports: ["tcp/22"],
          timeout_ms: 300_000,
          keepalive_ms: undefined,
        },
      );
      assert.doesNotMatch(JSON.stringify(plan.message), /undefined/);
    } finally {
      await p.close();
      await p.fx.cleanup();
    }
  });
});

Deno.test("dispatch dry run: a saved destructor timer is neither started nor run", async () => {
  const fx = await makeFixture({
    scripts: {
      "on.sh": "true",
      "off.sh": 'echo ran >> "$0.out"',
    },
    writable: true,
    actions: [{
      id: 10,
      name: "session",
      type: "exec",
      command: ["$DIR/on.sh"],
      keepalive: "1s",
      destructor: ["$DIR/off.sh"],
    }],
    aliceActions: ["session"],
  });
  try {
    // A real run arms the destructor and stops before it is due (it stays saved).
    const live = await overFixture(fx, {}, true);
    const req = live.seal(10);
    live.deliver(req.datagram);
    const opened = req.reply.open((await live.replies(1))[0]);
    assert.ok(opened.ok);
    assert.equal(opened.reply.status, ReplyStatus.Ok);
    assert.equal(live.daemon.sessions?.list().sessions.length, 1, "a session is armed");
    await live.close();

    const dry = await overFixture(fx, { dryRun: true }, true);
    await new Promise((r) => setTimeout(r, 2500));
    await dry.close();
    assert.equal(await exists(`${fx.dir}/off.sh.out`), false, "no destructor ran in a dry run");

    // The same saved timer does run in a real start: the check above could fail.
    const again = await overFixture(fx, {}, true);
    const deadline = Date.now() + 5000;
    while (!(await exists(`${fx.dir}/off.sh.out`)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await again.close();
    assert.equal(await exists(`${fx.dir}/off.sh.out`), true, "a real start runs it");
  } finally {
    await fx.cleanup();
  }
});

/**
 * Dead drops through the in-process pipeline: they run as an unprivileged user, stop when
 * their handler is disabled, and never take a slot from users' requests.
 */
import assert from "node:assert/strict";
import { ReplyStatus } from "../../src/wire/mod.ts";
import { inProcess } from "./_inprocess.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const SPOOFED: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.66", port: 5000 };

async function waitForFile(path: string, ms: number): Promise<string | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const text = await Deno.readTextFile(path).catch(() => undefined);
    if (text !== undefined) return text;
    await new Promise((r) => setTimeout(r, 25));
  }
  return undefined;
}

async function dropFixture(script: string, extra: Record<string, unknown> = {}) {
  const p = await inProcess({
    scripts: { "drop.sh": script, "work.sh": "echo done" },
    actions: [
      { id: 10, name: "collect", type: "exec", command: ["$DIR/drop.sh"] },
      { id: 11, name: "work", type: "exec", command: ["$DIR/work.sh"] },
    ],
    aliceActions: ["work"],
    server: { deaddrops: true },
    top: { deaddrops: [{ name: "inbox", prefix: "DROP:", handler: "collect" }], ...extra },
  });
  await Deno.mkdir(`${p.fx.dir}/out`, { mode: 0o777 });
  await Deno.chmod(`${p.fx.dir}/out`, 0o777);
  return p;
}

Deno.test("a dead drop runs its handler as an unprivileged user by default", async () => {
  const p = await dropFixture('id -u > "$(dirname "$0")/out/uid"');
  try {
    p.deliver(enc("DROP:hello"), SPOOFED);
    const uid = await waitForFile(`${p.fx.dir}/out/uid`, 5000);
    assert.ok(uid !== undefined, "the handler ran");
    assert.notEqual(uid.trim(), "0", "not as root");
    assert.equal(p.daemon.counters.deaddrop, 1);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("a dead drop whose handler is disabled at runtime runs nothing", async () => {
  const p = await dropFixture('touch "$(dirname "$0")/out/ran"');
  try {
    p.daemon.overrides.disable("actions", "collect");
    p.deliver(enc("DROP:hello"), SPOOFED);
    assert.equal(await waitForFile(`${p.fx.dir}/out/ran`, 500), undefined, "disabled: nothing ran");
    assert.equal(p.daemon.counters.deaddrop, undefined);
    p.daemon.overrides.enable("actions", "collect");
    p.deliver(enc("DROP:again"), SPOOFED);
    assert.ok(await waitForFile(`${p.fx.dir}/out/ran`, 5000) !== undefined, "enabled: it runs");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("dead drops have their own queue: a flood of them never makes a user busy", async () => {
  const p = await dropFixture("sleep 2", {
    execution: { max_concurrent: 1, queue: 0, deaddrop_concurrent: 1, deaddrop_queue: 1 },
    rate_limit: { per_source_rate: 1000, per_source_burst: 1000 },
  });
  try {
    for (let i = 0; i < 3; i++) p.deliver(enc(`DROP:${i}`), SPOOFED);
    const req = p.seal(11);
    p.deliver(req.datagram);
    const [reply] = await p.replies(1, 5000);
    const opened = req.reply.open(reply);
    assert.ok(opened.ok);
    assert.equal(opened.reply.status, ReplyStatus.Ok, "the user's action ran, not busy");
    assert.equal(p.daemon.counters.deaddrop_queue_full, 1, "the third drop found the queue full");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("deaddrops[].run_as names who the handler runs as", async () => {
  const p = await inProcess({
    scripts: { "drop.sh": 'id -un > "$(dirname "$0")/out/user"' },
    actions: [{ id: 10, name: "collect", type: "exec", command: ["$DIR/drop.sh"] }],
    server: { deaddrops: true },
    top: { deaddrops: [{ name: "inbox", prefix: "DROP:", handler: "collect", run_as: "root" }] },
  });
  try {
    await Deno.mkdir(`${p.fx.dir}/out`, { mode: 0o777 });
    p.deliver(enc("DROP:hello"), SPOOFED);
    assert.equal((await waitForFile(`${p.fx.dir}/out/user`, 5000))?.trim(), "root");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

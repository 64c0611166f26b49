/**
 * Who commands run as: an exec action without `run_as` runs as `execution.default_run_as`,
 * else the unprivileged user (`siglatch`, else `nobody`); root only when the config names it.
 * Real children through the in-process pipeline; `id -un` in the reply says who ran.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { buildRuntime, DEADDROP_DEFAULT_USERS } from "../../src/daemon/runtime.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";
import { decodeReplyBody, replyOutput } from "../../src/wire/reply_body.ts";
import { resolveRunAs } from "../../src/util/sysdb.ts";
import { makeFixture } from "../_helpers/daemon.ts";
import { inProcess } from "./_inprocess.ts";

/** The user the defaults land on here (`siglatch` when it exists, else `nobody`). */
const UNPRIVILEGED = DEADDROP_DEFAULT_USERS.find((u) => typeof resolveRunAs(u) !== "string")!;

async function whoRuns(
  action: Record<string, unknown>,
  top: Record<string, unknown> = {},
): Promise<string> {
  const p = await inProcess({
    scripts: { "who.sh": 'echo "$(id -un):$(id -gn)"' },
    actions: [{ id: 10, name: "who", type: "exec", command: ["$DIR/who.sh"], ...action }],
    aliceActions: ["who"],
    top,
  });
  try {
    const req = p.seal(10);
    p.deliver(req.datagram);
    const [reply] = await p.replies(1, 5000);
    assert.ok(reply, "a reply");
    const opened = req.reply.open(reply);
    assert.ok(opened.ok);
    assert.equal(opened.reply.status, ReplyStatus.Ok);
    return new TextDecoder().decode(replyOutput(decodeReplyBody(opened.reply.body))).trim();
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
}

Deno.test("an exec action without run_as runs as the unprivileged user, not root", async () => {
  assert.ok(UNPRIVILEGED, "siglatch or nobody exists");
  assert.equal((await whoRuns({})).split(":")[0], UNPRIVILEGED);
});

Deno.test("execution.default_run_as names who actions without run_as run as", async () => {
  assert.equal(await whoRuns({}, { execution: { default_run_as: "daemon" } }), "daemon:daemon");
  assert.equal(
    await whoRuns({}, { execution: { default_run_as: { user: "daemon", group: "bin" } } }),
    "daemon:bin",
    "the mapping form names user and group",
  );
  assert.equal(
    await whoRuns({ run_as: "bin" }, { execution: { default_run_as: "daemon" } }),
    "bin:bin",
    "an action's own run_as wins",
  );
});

Deno.test("run_as: root runs as root only when named", async () => {
  assert.equal(await whoRuns({ run_as: "root" }), "root:root");
});

Deno.test("runtime: argv destructors get the default too; builtins none; drops ignore it", async () => {
  const fx = await makeFixture({
    scripts: { "d.sh": "true" },
    actions: [
      { id: 10, name: "fw", type: "firewall", firewall: { ports: [{ port: 22 }] } },
      {
        id: 11,
        name: "fwd",
        type: "firewall",
        firewall: { ports: [{ port: 22 }] },
        destructor: ["$DIR/d.sh"],
      },
      { id: 12, name: "handler", type: "exec", command: ["$DIR/d.sh"] },
    ],
    aliceActions: ["fw", "fwd", "handler"],
    server: { deaddrops: true },
    top: {
      execution: { default_run_as: "daemon" },
      deaddrops: [{ name: "inbox", prefix: "DROP:", handler: "handler" }],
    },
  });
  try {
    const loaded = await loadConfig(fx.config);
    assert.ok(loaded.ok, loaded.ok ? "" : JSON.stringify(loaded.findings));
    const rt = await buildRuntime(loaded.config);
    assert.equal(rt.actions.get(10)!.runAs, undefined, "a plain firewall grant runs nothing");
    assert.equal(rt.actions.get(11)!.runAs?.user, "daemon");
    assert.equal(rt.actions.get(12)!.runAs?.user, "daemon");
    const [drop] = [...rt.servers.values()][0].deadDrops;
    assert.equal(drop.runAs.user, UNPRIVILEGED, "no key proves a drop: it never takes the default");
  } finally {
    await fx.cleanup();
  }
});

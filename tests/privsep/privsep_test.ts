/**
 * Privilege separation with a real daemon started as root: the process that owns the UDP
 * socket is not root, the privileged part is, and actions still run (through it).
 */
import assert from "node:assert/strict";
import { aliceRequest, makeFixture, startDaemon } from "../_helpers/daemon.ts";
import { credentialsOf } from "../../src/privsep/drop.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";
import { replyOutput } from "../../src/wire/reply_body.ts";

async function text(argv: string[]): Promise<string> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

/** The pid that owns the UDP socket bound to `port` (from `ss`). */
async function socketOwner(port: number): Promise<number> {
  const ss = await text(["ss", "-Huanp", `sport = :${port}`]);
  const m = /pid=(\d+)/.exec(ss);
  assert.ok(m, `no process owns udp port ${port}: ${ss}`);
  return Number(m[1]);
}

/** Real, effective, saved and filesystem uids of `pid` (read from /proc by `cat`). */
async function uidsOf(pid: number): Promise<number[]> {
  return credentialsOf(await text(["cat", `/proc/${pid}/status`])).uids;
}

const skip = Deno.uid() !== 0;

Deno.test({
  name: "privsep: the socket's owner is not root, the privileged part is; actions still run",
  ignore: skip && Deno.env.get("SIGLATCH_REQUIRE_ALL") !== "1",
  async fn() {
    const fx = await makeFixture({
      scripts: { "who.sh": "id -un" },
      actions: [{ id: 10, name: "who", type: "exec", command: ["$DIR/who.sh"], run_as: "root" }],
      aliceActions: ["who"],
    });
    const d = await startDaemon(fx.config);
    try {
      const owner = await socketOwner(fx.port);
      assert.notEqual(owner, d.child.pid, "the network part is a process of its own");
      const nobody = Number((await text(["id", "-u", "nobody"])).trim());
      assert.deepEqual(await uidsOf(owner), [nobody, nobody, nobody, nobody]);
      assert.deepEqual(await uidsOf(d.child.pid), [0, 0, 0, 0], "the privileged part");
      const admin = await Deno.stat(`${fx.dir}/run/admin.sock`);
      assert.equal(admin.uid, nobody, "the admin socket belongs to the network part");
      // An action configured to run as root still does: the privileged part starts it.
      const r = await aliceRequest(fx, 10);
      assert.equal(r.status, ReplyStatus.Ok, JSON.stringify(r));
      assert.equal(new TextDecoder().decode(replyOutput(r.body!)), "root\n");
    } finally {
      await d.stop();
      await fx.cleanup();
    }
  },
});

Deno.test({
  name: "privsep.user names the network part's user; privsep.enabled: false keeps one root process",
  ignore: skip && Deno.env.get("SIGLATCH_REQUIRE_ALL") !== "1",
  async fn() {
    for (
      const [privsep, expected] of [[{ user: "daemon" }, "daemon"], [
        { enabled: false },
        "root",
      ]] as const
    ) {
      const fx = await makeFixture({ top: { privsep } });
      const d = await startDaemon(fx.config);
      try {
        const owner = await socketOwner(fx.port);
        const uid = Number((await text(["id", "-u", expected])).trim());
        assert.equal((await uidsOf(owner))[0], uid, JSON.stringify(privsep));
        assert.equal(owner === d.child.pid, expected === "root");
        assert.equal((await aliceRequest(fx, 1)).status, ReplyStatus.Ok);
      } finally {
        await d.stop();
        await fx.cleanup();
      }
    }
  },
});

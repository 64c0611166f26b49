/**
 * Two daemons with one server key sharing a real Redis state store (a cluster): an invite
 * made on one node enrolls through the other, once for the whole cluster, and the enrolled
 * user works on both; a server rotation on one node reaches the other; with
 * `keys.rotate_every` on both nodes the cluster rotates once per period, not once per node.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { decodeInvite, encodeInvite } from "../../src/enroll/invite.ts";
import { type Fixture, runCli } from "../_helpers/daemon.ts";
import { createInvite } from "../_helpers/invite.ts";
import { eventually, withTwoNodes } from "../_helpers/cluster.ts";
import { skipWithout } from "../_helpers/system.ts";

/** Points a profile at another node's port. */
async function retarget(profile: string, to: Fixture, out: string): Promise<void> {
  const p = parse(await Deno.readTextFile(profile)) as Record<string, unknown>;
  p.port = to.port;
  await Deno.writeTextFile(out, stringify(p), { mode: 0o600 });
}

Deno.test(
  "cluster: an invite made on one node enrolls through the other, once; rotation reaches both",
  {
    ignore: skipWithout("redis-server", "redis-server"),
  },
  async () => {
    const top = { keys: { rotation_grace: "1h" } };
    await withTwoNodes(
      { prefix: "enroll-test:", top, shareKeys: true },
      async ({ a, b, nodeB }) => {
        const invite = await createInvite(a.config, "guest9", ["--expires", "1h"]);
        const viaB = encodeInvite({ ...decodeInvite(invite), port: b.port });
        const out = `${b.dir}/guest9.yaml`;
        const enrolled = await runCli(["enroll", viaB, "--out", out]);
        assert.equal(enrolled.code, 0, enrolled.stderr);
        // The same invite through node A, with a new key: used up cluster-wide.
        const again = await runCli(["enroll", invite, "--out", `${a.dir}/g.yaml`]);
        assert.equal(again.code, 1);
        assert.match(again.stderr, /invite_used/);
        // The user enrolled on B works on A too.
        await retarget(out, a, `${b.dir}/guest9-on-a.yaml`);
        assert.ok(
          await eventually(
            async () =>
              (await runCli(["send", "--profile", `${b.dir}/guest9-on-a.yaml`, "ping"])).code === 0,
            8000,
          ),
          "node A knows the user enrolled on node B",
        );

        // A rotation on node A reaches node B: B answers the old key with the new one.
        const rot = await runCli(["admin", "--config", a.config, "rotate", "server"]);
        assert.equal(rot.code, 0, rot.stderr);
        const newKey = rot.stdout.match(/public key (\S+)/)![1];
        await nodeB.waitFor(/key generation 1, previous accepted until/, 8000);
        const r = await runCli(["send", "--profile", out, "ping"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /server key rotated/);
        assert.equal(
          (parse(await Deno.readTextFile(out)) as { server_public_key: string })
            .server_public_key,
          newKey,
        );
      },
    );
  },
);

Deno.test("cluster: keys.rotate_every on two nodes rotates once per period", {
  ignore: skipWithout("redis-server", "redis-server"),
}, async () => {
  const top = { keys: { rotate_every: "2s" } };
  await withTwoNodes({ prefix: "rotate-test:", top, shareKeys: true }, async ({ nodeA, nodeB }) => {
    await nodeA.waitFor(/key generation 3, /, 20_000);
    await nodeB.waitFor(/key generation 3, /, 20_000);
    // Each generation has one key across the cluster: had both nodes rotated, a generation
    // would name two keys (each node draws its own salt).
    const keys = new Map<string, Set<string>>();
    for (const log of [nodeA.logs(), nodeB.logs()]) {
      for (
        const m of log.matchAll(/key generation (\d+), previous accepted until [^,]+, ([^"\s]+)/g)
      ) {
        if (!keys.has(m[1])) keys.set(m[1], new Set());
        keys.get(m[1])!.add(m[2]);
      }
    }
    for (const gen of ["1", "2", "3"]) {
      assert.equal(keys.get(gen)?.size, 1, `generation ${gen}: ${[...keys.get(gen) ?? []]}`);
    }
  });
});

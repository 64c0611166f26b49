/**
 * An enrolled user that goes away (revoked, or expired) loses its live firewall grants at
 * once, not when their duration runs out; a config user's grants stay. A real daemon in
 * process with real nftables sets in a namespace the test creates; the grants are made by
 * real requests of the enrolled users (Ed25519, sealed) through the pipeline.
 */
import assert from "node:assert/strict";
import { generateEd25519 } from "../../src/crypto/keys.ts";
import { NftGrants } from "../../src/nft/grants.ts";
import { ReplyStatus, sealRequest } from "../../src/wire/mod.ts";
import { CLIENT, type InProcess, inProcess } from "../daemon/_inprocess.ts";
import { skipNetns, withNs } from "../_helpers/netns.ts";

const SSH = 11;

async function enrollUser(p: InProcess, name: string, expiresMs: number) {
  const { record } = await p.daemon.enrollment.createInvite({
    name,
    actions: ["ssh"],
    expiresMs,
  });
  const key = generateEd25519();
  const answer = await p.daemon.enrollment.enroll(record.id, key.publicKey);
  assert.ok(typeof answer === "object" && answer.state === "enrolled", JSON.stringify(answer));
  while (!p.daemon.runtime.users.has(answer.user_id)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return { id: answer.user_id, seed: key.privateKey };
}

/** A grant request of `user` for `address`, through the pipeline; resolves on its reply. */
async function grant(
  p: InProcess,
  auth: Parameters<typeof sealRequest>[1],
  userId: number,
  address: string,
) {
  const req = sealRequest(p.fx.serverPublic, auth, {
    type: "request",
    userId,
    actionId: SSH,
    allowAddress: address,
  }, { padTo: 1200 });
  const before = p.channel.sent.length;
  await p.deliver(req.datagram, CLIENT);
  const all = await p.replies(before + 1, 5000);
  const opened = req.reply.open(all[before]);
  assert.ok(opened.ok && opened.reply.status === ReplyStatus.Ok, "granted");
}

async function granted(p: InProcess): Promise<string[]> {
  return (await p.daemon.sessions!.grants!.nft.list()).map((e) => e.address).sort();
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test({
  name: "enrolled user gone (revoked, expired): its live firewall grants are cut at once",
  ignore: skipNetns(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNs(async (ns) => {
      const p = await inProcess(
        {
          actions: [{
            id: SSH,
            name: "ssh",
            type: "firewall",
            firewall: { ports: [{ proto: "tcp", port: 2222 }], duration: "1h" },
          }],
          aliceActions: ["ssh"],
        },
        { nftGrants: new NftGrants({ netns: ns }) },
        true,
      );
      try {
        const bob = await enrollUser(p, "bob", 3_600_000);
        const eve = await enrollUser(p, "eve", 4_000);
        await grant(p, { kind: "hmac", key: p.fx.aliceKey }, 1, "192.0.2.1");
        await grant(p, { kind: "ed25519", privateKey: bob.seed }, bob.id, "192.0.2.2");
        await grant(p, { kind: "ed25519", privateKey: eve.seed }, eve.id, "192.0.2.3");
        assert.deepEqual(await granted(p), ["192.0.2.1", "192.0.2.2", "192.0.2.3"]);

        // Revoked: bob's grant (1 h left) goes now; the others stay.
        assert.ok(await p.daemon.enrollment.revoke("bob"));
        await until(async () => !(await granted(p)).includes("192.0.2.2"), "bob's grant cut");
        assert.deepEqual(await granted(p), ["192.0.2.1", "192.0.2.3"]);

        // Expired (after 4 s): eve's grant (1 h) goes with her; alice's stays.
        await until(async () => !(await granted(p)).includes("192.0.2.3"), "eve's grant cut");
        assert.ok(!p.daemon.runtime.users.has(eve.id), "eve is gone");
        assert.deepEqual(await granted(p), ["192.0.2.1"]);
        assert.deepEqual(
          p.daemon.sessions!.list().grants.map((g) => g.user),
          ["alice"],
          "the grant records went too",
        );
      } finally {
        await p.daemon.sessions?.grants?.nft.teardown().catch(() => {});
        await p.close();
        await p.fx.cleanup();
      }
    });
  },
});

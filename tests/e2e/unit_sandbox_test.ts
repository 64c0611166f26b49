/**
 * The capabilities `config/siglatchd.service` keeps are enough: a real daemon, started as
 * root with exactly the unit's `CapabilityBoundingSet=` and `NoNewPrivileges=` (applied by
 * `setpriv`, as systemd applies them before exec), with the flags `siglatch permissions`
 * prints, inside a network namespace, opens the firewall (CAP_NET_ADMIN for nft) and runs
 * an action as `nobody` (CAP_SETUID/SETGID). systemd itself cannot run here, so the rest of the sandbox is checked by
 * `systemd-analyze security --offline=true` (docs/SECURITY.md).
 * @module
 */
import assert from "node:assert/strict";
import { makeFixture, runCli } from "../_helpers/daemon.ts";
import { V8_FLAGS } from "../_helpers/flags.ts";
import { spawnKnockClient } from "../_helpers/knock_client.ts";
import { type NetnsDaemon, runBounded, skipNetns, withNetnsPair } from "../_helpers/netns.ts";
import { startDaemonIn } from "../_helpers/netns.ts";
import { hasCommand } from "../_helpers/system.ts";

const UNIT = new URL("../../config/siglatchd.service", import.meta.url).pathname;
const PORT = 62232;
const HOSTFW = `table inet hostfw {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif "lo" accept
    udp dport ${PORT} accept
    meta mark & 0x20000000 == 0x20000000 accept
  }
}
`;

/** The values of `Key=` lines of the unit (later lines add to earlier ones, as in systemd). */
async function unitValues(key: string): Promise<string[]> {
  const text = await Deno.readTextFile(UNIT);
  return text.split("\n").filter((l) => l.startsWith(`${key}=`)).flatMap((l) =>
    l.slice(key.length + 1).split(/\s+/).filter(Boolean)
  );
}

/** `setpriv` argv applying the unit's bounding set and no_new_privs. */
async function setprivPrefix(): Promise<string[]> {
  const caps = await unitValues("CapabilityBoundingSet");
  assert.ok(caps.length > 0 && caps.every((c) => /^CAP_[A-Z_]+$/.test(c)), caps.join(" "));
  assert.deepEqual(await unitValues("NoNewPrivileges"), ["yes"]);
  const bounding = ["-all", ...caps.map((c) => `+${c.slice(4).toLowerCase()}`)].join(",");
  return ["setpriv", "--nnp", "--inh-caps=-all", `--bounding-set=${bounding}`];
}

Deno.test({
  name: "unit sandbox: with only the unit's capabilities and no_new_privs: grant, exec as " +
    "nobody",
  ignore: skipNetns() || !hasCommand("setpriv"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNetnsPair(async (pair) => {
      await pair.nft(pair.server, HOSTFW);
      await pair.listen(2222);
      const fx = await makeFixture({
        listen: [`${pair.serverIp}:${PORT}`],
        aliceActions: ["ssh", "whoami"],
        actions: [
          {
            id: 11,
            name: "ssh",
            type: "firewall",
            firewall: { ports: [{ proto: "tcp", port: 2222 }], duration: "30s" },
          },
          {
            id: 12,
            name: "whoami",
            type: "exec",
            // exits 0 only when it really runs as nobody
            command: ["/bin/sh", "-c", 'test "$(id -un)" = nobody'],
            run_as: "nobody",
          },
        ],
      });
      let daemon: NetnsDaemon | undefined;
      let kc: Awaited<ReturnType<typeof spawnKnockClient>> | undefined;
      try {
        const flags = JSON.parse((await runCli(["permissions", "--json", fx.config])).stdout);
        daemon = await startDaemonIn(pair.server, fx.config, {
          runFlags: ["run", ...flags, ...V8_FLAGS],
          prefix: await setprivPrefix(),
        });
        // Deno reads /proc/PID only under --allow-all: grep does it.
        const caps = (await runBounded(["grep", "^CapBnd:", `/proc/${daemon.child.pid}/status`]))
          .stdout.trim();
        assert.ok(caps, "CapBnd in /proc status");
        assert.notEqual(caps.split(/\s+/)[1], "000001ffffffffff", "the bounding set is narrowed");
        kc = await spawnKnockClient(pair.client, {
          host: pair.serverIp,
          port: PORT,
          serverPublic: fx.serverPublic,
          userId: 1,
          hmacKey: fx.aliceKey,
        });
        const grant = await kc.send({ actionId: 11, bind: pair.clientIp, retries: 2 });
        assert.ok(grant.answered, `no reply to the grant:\n${daemon.logs()}`);
        assert.equal(grant.status, 0, JSON.stringify(grant));
        const open = await kc.connect({
          host: pair.serverIp,
          port: 2222,
          from: pair.clientIp,
          timeoutMs: 500,
        });
        assert.ok(open.ok, "nft applied the grant");
        const who = await kc.send({ actionId: 12, bind: pair.clientIp, retries: 2 });
        assert.equal(who.status, 0, `${JSON.stringify(who)}\n${daemon.logs()}`);
      } finally {
        await kc?.close();
        await daemon?.stop();
        await fx.cleanup();
      }
    });
  },
});

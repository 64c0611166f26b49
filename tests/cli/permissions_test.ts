/**
 * `siglatch permissions CONFIG` prints flags that really run that config: each test starts
 * `siglatch serve` with EXACTLY the printed flags (plus the shipped V8 flags) and gets
 * replies over UDP and an answer on the admin socket — for the embedded KV store, for Redis,
 * and for a firewall action whose grant lands in nftables inside a network namespace.
 *
 * A flag set that misses a permission fails here: the daemon exits at start, the admin
 * `status` fails, or the reply is dropped (Deno checks the destination of every send).
 * @module
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import {
  aliceRequest,
  type DaemonProcess,
  type Fixture,
  makeFixture,
  runCli,
  startDaemon,
} from "../_helpers/daemon.ts";
import { V8_FLAGS } from "../_helpers/flags.ts";
import { type NetnsDaemon, skipNetns, startDaemonIn, withNetnsPair } from "../_helpers/netns.ts";
import { spawnKnockClient } from "../_helpers/knock_client.ts";
import { startRedis } from "../_helpers/redis.ts";
import { hasCommand, requireAll } from "../_helpers/system.ts";

/** `deno run` + what `siglatch permissions --json CONFIG` printed + the shipped V8 flags. */
async function printedRunFlags(config: string): Promise<string[]> {
  const r = await runCli(["permissions", "--json", config]);
  assert.equal(r.code, 0, r.stderr);
  const flags = JSON.parse(r.stdout) as string[];
  assert.ok(flags.every((f) => f.startsWith("--")), r.stdout);
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"), r.stdout);
  return ["run", ...flags, ...V8_FLAGS];
}

/** Changes the fixture's config (parsed YAML) in place. */
async function editConfig(fx: Fixture, edit: (cfg: Record<string, unknown>) => void) {
  const cfg = parse(await Deno.readTextFile(fx.config)) as Record<string, unknown>;
  edit(cfg);
  await Deno.writeTextFile(fx.config, stringify(cfg));
}

/** `siglatch admin --socket SOCK status` (the admin client itself runs with the task's flags). */
async function adminStatus(socket: string): Promise<string> {
  const r = await runCli(["admin", "--socket", socket, "status"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** No line of the daemon's log says a permission was missing. */
function assertNoPermissionErrors(logs: string): void {
  assert.doesNotMatch(logs, /NotCapable|Requires \w+ access|--allow-/, logs);
}

/** Starts the daemon with the printed flags, pings it, runs `exec`, asks `status`. */
async function pingAndStatus(fx: Fixture): Promise<DaemonProcess> {
  const daemon = await startDaemon(fx.config, [], await printedRunFlags(fx.config));
  const ping = await aliceRequest(fx, 1, "", { retries: 2 });
  assert.ok(ping.answered, `no reply to ping:\n${daemon.logs()}`);
  assert.equal(ping.status, 0);
  const run = await aliceRequest(fx, 10, "", { retries: 2, timeoutMs: 5000 });
  assert.ok(run.answered, `no reply to the exec action:\n${daemon.logs()}`);
  assert.equal(run.status, 0, JSON.stringify(run));
  assert.match(run.body?.out ?? "", /^hello$/m);
  assert.match(await adminStatus(`${fx.dir}/run/admin.sock`), /^config version\s+\d+/m);
  return daemon;
}

/** An exec action (as `nobody`) that prints a line: proves `--allow-run` and the setsid path. */
const HELLO = {
  id: 10,
  name: "hello",
  type: "exec",
  command: ["/bin/echo", "hello"],
  run_as: "nobody",
};

Deno.test("permissions: the printed flags run a KV-state daemon: ping, exec, admin status", async () => {
  const fx = await makeFixture({ actions: [HELLO], aliceActions: ["hello"] });
  let daemon: DaemonProcess | undefined;
  try {
    daemon = await pingAndStatus(fx);
    assertNoPermissionErrors(daemon.logs());
  } finally {
    await daemon?.stop();
    await fx.cleanup();
  }
});

Deno.test({
  name: "permissions: the printed flags run a Redis-state daemon: ping, exec, admin status",
  ignore: !requireAll && !hasCommand("redis-server"),
  async fn() {
    const redis = await startRedis();
    const fx = await makeFixture({ actions: [HELLO], aliceActions: ["hello"] });
    let daemon: DaemonProcess | undefined;
    try {
      await editConfig(fx, (cfg) => {
        cfg.state = { redis: redis.url, key_prefix: `perm${Deno.pid}:` };
      });
      const flags = await printedRunFlags(fx.config);
      assert.ok(!flags.includes("--unstable-kv"), "Redis state needs no KV");
      daemon = await pingAndStatus(fx);
      assertNoPermissionErrors(daemon.logs());
    } finally {
      await daemon?.stop();
      await fx.cleanup();
      await redis.stop();
    }
  },
});

const PORT = 62231;
const HOSTFW = `table inet hostfw {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif "lo" accept
    meta l4proto { icmp, ipv6-icmp } accept
    udp dport ${PORT} accept
    meta mark & 0x20000000 == 0x20000000 accept
  }
}
`;

Deno.test({
  name: "permissions: the printed flags run a firewall daemon in a namespace: ping, grant, status",
  ignore: skipNetns(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNetnsPair(async (pair) => {
      await pair.nft(pair.server, HOSTFW);
      await pair.listen(2222);
      const fx = await makeFixture({
        listen: [`${pair.serverIp}:${PORT}`],
        aliceActions: ["ssh"],
        actions: [{
          id: 11,
          name: "ssh",
          type: "firewall",
          firewall: { ports: [{ proto: "tcp", port: 2222 }], duration: "30s" },
        }],
      });
      let daemon: NetnsDaemon | undefined;
      let kc: Awaited<ReturnType<typeof spawnKnockClient>> | undefined;
      try {
        const flags = await printedRunFlags(fx.config);
        assert.ok(flags.some((f) => /^--allow-run=.*\bnft\b/.test(f)), flags.join(" "));
        daemon = await startDaemonIn(pair.server, fx.config, { runFlags: flags });
        kc = await spawnKnockClient(pair.client, {
          host: pair.serverIp,
          port: PORT,
          serverPublic: fx.serverPublic,
          userId: 1,
          hmacKey: fx.aliceKey,
        });
        const open = () =>
          kc!.connect({ host: pair.serverIp, port: 2222, from: pair.clientIp, timeoutMs: 300 })
            .then((r) => r.ok);
        assert.equal(await open(), false, "closed before the knock");
        const ping = await kc.send({ actionId: 1, bind: pair.clientIp, retries: 2 });
        assert.ok(ping.answered, `no reply to ping:\n${daemon.logs()}`);
        assert.equal(ping.status, 0);
        const grant = await kc.send({ actionId: 11, bind: pair.clientIp, retries: 2 });
        assert.ok(grant.answered, `no reply to the grant:\n${daemon.logs()}`);
        assert.equal(grant.status, 0, JSON.stringify(grant));
        assert.equal(await open(), true, "open after the grant");
        assert.match(await adminStatus(`${fx.dir}/run/admin.sock`), /^config version\s+\d+/m);
        assertNoPermissionErrors(daemon.logs());
      } finally {
        await kc?.close();
        await daemon?.stop();
        await fx.cleanup();
      }
    });
  },
});

Deno.test("permissions: one `deno run` line with the same flags; IPv6 listen → unrestricted net", async () => {
  const fx = await makeFixture();
  try {
    const line = await runCli(["permissions", fx.config]);
    assert.equal(line.code, 0, line.stderr);
    const json = await runCli(["permissions", "--json", fx.config]);
    const flags = JSON.parse(json.stdout) as string[];
    const printed = line.stdout.trim();
    assert.equal(printed.split("\n").length, 1, printed);
    assert.ok(
      printed.startsWith(`deno run ${flags.join(" ")} `) &&
        printed.endsWith(`/main.ts serve --config ${fx.config}`),
      printed,
    );
    const net = flags.find((f) => f.startsWith("--allow-net="));
    assert.deepEqual(
      net?.slice(12).split(",").sort(),
      [
        "0.0.0.0/0",
        `unix:${fx.dir}/run/.admin.sock.bind/s`,
        `unix:${fx.dir}/run/admin.sock`,
        // sd_notify: the socket it sends from, and systemd's
        `unix:${fx.dir}/run/admin.sock.notify`,
        "unix:/run/systemd/notify",
      ].sort(),
    );
    // No action starts a process: only the network part's start (privilege separation).
    assert.deepEqual(flags.filter((f) => f.startsWith("--allow-run")), [
      `--allow-run=${Deno.execPath()}`,
    ]);
    await editConfig(fx, (cfg) => {
      (cfg.servers as { listen: string[] }[])[0].listen.push(`[::1]:${fx.port}`);
    });
    const v6 = JSON.parse((await runCli(["permissions", "--json", fx.config])).stdout);
    assert.ok(v6.includes("--allow-net"), v6.join(" "));
  } finally {
    await fx.cleanup();
  }
});

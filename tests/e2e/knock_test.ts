/**
 * End to end through a real daemon: two namespaces joined by a veth pair; in the server
 * namespace a TCP listener on 2222 behind a host filter with `policy drop` (a table the
 * test creates, accepting the grant mark) and a real `siglatchd` (`ip netns exec`) listening
 * on the server veth address; knocks come from the client namespace through a knock client
 * (`tests/_helpers/knock_client.ts`) and the real `siglatch send` / `siglatch open` CLIs.
 *
 * The daemon runs with a non-default `firewall:` section (mark 0x10000, priority -20) and
 * the host filter accepts only that mark, so every open door also proves the section
 * reached the nft backend.
 * @module
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { type Fixture, makeFixture, ROOT, RUN_FLAGS } from "../_helpers/daemon.ts";
import { type KnockClientApi, spawnKnockClient } from "../_helpers/knock_client.ts";
import {
  type NetnsDaemon,
  type NetnsPair,
  runBounded,
  skipNetns,
  startDaemonIn,
  withNetnsPair,
} from "../_helpers/netns.ts";

const PORT = 62201;
const MARK = 0x10000;
const PRIORITY = -20;

const HOSTFW = `table inet hostfw {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    ct state invalid drop
    iif "lo" accept
    meta l4proto { icmp, ipv6-icmp } accept
    udp dport ${PORT} accept
    meta mark & 0x${MARK.toString(16)} == 0x${MARK.toString(16)} accept
  }
}
table ip other {
  set keep { type ipv4_addr; elements = { 192.0.2.1, 198.51.100.7 } }
  chain out { type filter hook output priority 0; policy accept; }
}
`;

/** Action ids (the test's config). */
const A = { short: 10, keep: 11, openFor: 12, session: 13, revoke: 14, listGrants: 15 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns `want`; the ms it took, or undefined after `ms`. */
async function until(
  fn: () => Promise<boolean>,
  want: boolean,
  ms: number,
): Promise<number | undefined> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if ((await fn()) === want) return Date.now() - t0;
    await sleep(50);
  }
  return undefined;
}

/** `nft -j list ruleset` of the server namespace without `metainfo` and, if asked, siglatch. */
async function ruleset(pair: NetnsPair, withoutSiglatch: boolean): Promise<unknown[]> {
  const r = await pair.run(pair.server, ["nft", "-j", "list", "ruleset"]);
  assert.equal(r.code, 0, r.stderr);
  const items = (JSON.parse(r.stdout) as { nftables: Record<string, Record<string, unknown>>[] })
    .nftables;
  return items.filter((item) => {
    const [kind, body] = Object.entries(item)[0];
    if (kind === "metainfo") return false;
    if (!withoutSiglatch) return true;
    const table = kind === "table" ? body.name : body.table;
    return !(body.family === "inet" && table === "siglatch");
  });
}

async function writeConfig(fx: Fixture, firewall: Record<string, unknown>): Promise<void> {
  const cfg = parse(await Deno.readTextFile(fx.config)) as Record<string, unknown>;
  cfg.firewall = firewall;
  await Deno.writeTextFile(fx.config, stringify(cfg));
}

async function fixture(pair: NetnsPair): Promise<Fixture> {
  const fw = (over: Record<string, unknown>) => ({
    type: "firewall",
    firewall: { ports: [{ proto: "tcp", port: 2222 }], duration: "2s", ...over },
  });
  const fx = await makeFixture({
    listen: [`${pair.serverIp}:${PORT}`],
    server: { limits: { explain_refusals: true } },
    aliceActions: ["short", "keep", "open-for", "session", "revoke", "list_grants"],
    actions: [
      { id: A.short, name: "short", ...fw({}) },
      { id: A.keep, name: "keep", ...fw({ duration: "1500ms" }), keepalive: "1500ms" },
      {
        id: A.openFor,
        name: "open-for",
        ...fw({ allow_payload_address: true }),
        allow_cidrs: [`${pair.clientIp.replace(/\.\d+$/, ".0")}/24`],
      },
      {
        id: A.session,
        name: "session",
        ...fw({ duration: "20s" }),
        keepalive: "4s",
        destructor: ["$DIR/destructor.sh"],
      },
      { id: A.revoke, name: "revoke", type: "builtin", builtin: "revoke" },
      { id: A.listGrants, name: "list_grants", type: "builtin", builtin: "list_grants" },
    ],
    scripts: {
      "destructor.sh":
        `echo "$(/bin/date +%s%3N) $SIGLATCH_DESTRUCTOR_REASON" >> "\${0%/*}/destructed.log"`,
    },
    writable: true,
    top: {
      firewall: { nft_mark: MARK, nft_priority: PRIORITY },
      logging: { level: "info", format: "json", drop_log_rate: 1000 },
    },
  });
  await Deno.writeTextFile(
    `${fx.dir}/client.yaml`,
    stringify({
      host: pair.serverIp,
      port: PORT,
      server_public_key: fx.serverPublic.toBase64(),
      user_id: 1,
      hmac_key_file: "alice.hmac",
      timeout: 1,
      retries: 1,
      actions: {
        short: A.short,
        keep: A.keep,
        "open-for": A.openFor,
        revoke: A.revoke,
        list_grants: A.listGrants,
      },
    }),
  );
  return fx;
}

/** The CLI (`deno run main.ts ARGS`) inside the client namespace. */
function cliArgv(pair: NetnsPair, args: string[]): string[] {
  return [
    "ip",
    "netns",
    "exec",
    pair.client,
    Deno.execPath(),
    ...RUN_FLAGS,
    `${ROOT}/main.ts`,
    ...args,
  ];
}

Deno.test({
  name: "e2e knock: a real siglatchd in a namespace opens, keeps, expires and revokes tcp/2222",
  ignore: skipNetns(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await withNetnsPair(async (pair) => {
      await pair.nft(pair.server, HOSTFW);
      await pair.listen(2222);
      const before = await ruleset(pair, false);
      const fx = await fixture(pair);
      let daemon: NetnsDaemon | undefined;
      let kc: KnockClientApi | undefined;
      try {
        daemon = await startDaemonIn(pair.server, fx.config);
        kc = await spawnKnockClient(pair.client, {
          host: pair.serverIp,
          port: PORT,
          serverPublic: fx.serverPublic,
          userId: 1,
          hmacKey: fx.aliceKey,
        });
        const client = kc;
        const open = (from = pair.clientIp, timeoutMs = 300) =>
          client.connect({ host: pair.serverIp, port: 2222, from, timeoutMs }).then((r) => r.ok);
        const knock = async (actionId: number, payload = "") => {
          const r = await client.send({ actionId, payload, bind: pair.clientIp, retries: 1 });
          assert.ok(r.answered, `no reply to action ${actionId}`);
          return r;
        };
        const revokeAll = async () => assert.equal((await knock(A.revoke)).status, 0);

        await t.step(
          "closed before any knock; the daemon answers ping from the client",
          async () => {
            assert.equal((await knock(1)).status, 0);
            assert.equal(await open(), false);
          },
        );

        await t.step(
          "`siglatch send` opens the port; it closes when the grant expires",
          async () => {
            const r = await runBounded(
              cliArgv(pair, ["send", "--profile", `${fx.dir}/client.yaml`, "short", "--json"]),
              {
                timeoutMs: 15_000,
              },
            );
            assert.equal(r.code, 0, r.stderr + r.stdout);
            const reply = JSON.parse(r.stdout);
            assert.equal(reply.status, "ok");
            assert.equal(reply.data.address, pair.clientIp);
            assert.deepEqual(reply.data.ports, ["tcp/2222"]);
            const ended = Date.now();
            assert.equal(await open(), true, "open right after the knock");
            const closedAfter = await until(() => open(), false, 4000);
            assert.ok(closedAfter !== undefined, "still open 4 s after a 2 s grant");
            const total = Date.now() - ended;
            assert.ok(total <= 3500, `closed ${total} ms after the CLI exited (grant 2 s)`);
          },
        );

        await t.step("keepalives extend a grant past its duration, then it lapses", async () => {
          const t0 = Date.now();
          const first = await knock(A.keep);
          assert.equal(first.status, 0);
          assert.equal((first.data as { renewed: boolean }).renewed, false);
          for (const at of [700, 1400, 2100]) {
            await sleep(t0 + at - Date.now());
            const again = await knock(A.keep);
            assert.equal((again.data as { renewed: boolean }).renewed, true);
          }
          const last = Date.now();
          await sleep(t0 + 2600 - Date.now());
          assert.equal(await open(), true, "open 2.6 s after the first knock (duration 1.5 s)");
          assert.ok((await until(() => open(), false, 3000)) !== undefined, "never lapsed");
          const lapsed = Date.now() - last;
          assert.ok(
            lapsed >= 1000 && lapsed <= 2600,
            `lapsed ${lapsed} ms after the last keepalive`,
          );
        });

        await t.step("the revoke builtin closes it at once", async () => {
          assert.equal((await knock(A.keep)).status, 0);
          assert.equal(await open(), true);
          const r = await knock(A.revoke);
          assert.equal(r.status, 0);
          assert.deepEqual(r.data, { grants: 1, sessions: 1 });
          assert.equal(await open(), false, "open after revoke");
          const listed = await knock(A.listGrants);
          assert.deepEqual((listed.data as { grants: unknown[] }).grants, []);
        });

        await t.step("a payload address only where allow_payload_address allows it", async () => {
          const refused = await knock(A.short, pair.clientIpB);
          assert.equal(refused.status, 2);
          assert.equal(refused.reason, "payload_address_not_allowed");
          assert.equal(await open(pair.clientIpB), false);
          const outside = await knock(A.openFor, "192.0.2.7");
          assert.equal(outside.reason, "payload_address_outside_cidrs");
          const ok = await knock(A.openFor, pair.clientIpB);
          assert.equal(ok.status, 0);
          assert.equal((ok.data as { address: string }).address, pair.clientIpB);
          assert.equal(await open(pair.clientIpB), true, "the named address is open");
          assert.equal(await open(pair.clientIp), false, "the sender is not");
          await revokeAll();
          assert.equal(await open(pair.clientIpB), false);
        });

        await t.step(
          "`siglatch open --for 3s` keeps it open while it runs and closes it after",
          async () => {
            const [bin, ...args] = cliArgv(pair, [
              "open",
              `${fx.dir}/client.yaml`,
              "keep",
              "--for",
              "3s",
            ]);
            const child = new Deno.Command(bin, {
              args,
              stdin: "null",
              stdout: "piped",
              stderr: "piped",
              env: { NO_COLOR: "1" },
            }).spawn();
            const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
            const output = child.output();
            try {
              const openedIn = await until(() => open(), true, 6000);
              assert.ok(openedIn !== undefined, "never opened");
              const openedAt = Date.now();
              // Past the 1.5 s grant duration: only the command's keepalives hold it open.
              await sleep(2000);
              if (Date.now() - openedAt < 2900) {
                assert.equal(await open(), true, "closed while open runs");
              }
            } finally {
              const out = await output;
              clearTimeout(killer);
              const text = new TextDecoder().decode(out.stderr);
              assert.equal(out.code, 0, text);
            }
            assert.equal(await open(), false, "open after `siglatch open` exited");
          },
        );

        await t.step(
          "kill -9 mid-session: after a restart the exec destructor runs once, on time",
          async () => {
            const logPath = `${fx.dir}/destructed.log`;
            assert.equal((await knock(A.session)).status, 0);
            await sleep(300);
            const sent = Date.now();
            const renew = await knock(A.session);
            const replied = Date.now();
            assert.equal((renew.data as { renewed: boolean }).renewed, true);
            await daemon!.stop("SIGKILL");
            daemon = undefined;
            assert.equal(await open(), true, "the kernel keeps the grant while the daemon is down");
            await writeConfig(fx, {
              nft_mark: MARK,
              nft_priority: PRIORITY,
              remove_on_shutdown: true,
            });
            daemon = await startDaemonIn(pair.server, fx.config);
            const read = () => Deno.readTextFile(logPath).catch(() => "");
            const ranIn = await until(
              async () => (await read()).length > 0,
              true,
              sent + 4000 + 4000 - Date.now(),
            );
            assert.ok(ranIn !== undefined, "the destructor never ran");
            const [line] = (await read()).trim().split("\n");
            const [at, reason] = line.split(" ");
            const ranAt = Number(at);
            assert.ok(
              ranAt >= sent + 4000 - 50 && ranAt <= replied + 4000 + 1000,
              `ran ${ranAt - sent} ms after the last keepalive (keepalive 4 s)`,
            );
            assert.equal(reason, "keepalive_lapsed");
            assert.equal(await open(), false, "its grant (20 s) was revoked with it");
            await sleep(1200);
            assert.equal((await read()).trim().split("\n").length, 1, "ran more than once");
          },
        );

        await t.step(
          "only table inet siglatch changed; remove_on_shutdown removes it",
          async () => {
            const chain = await pair.run(pair.server, [
              "nft",
              "list",
              "chain",
              "inet",
              "siglatch",
              "grants",
            ]);
            assert.match(chain.stdout, new RegExp(`priority ${PRIORITY};`));
            assert.match(chain.stdout, /meta mark set meta mark \| 0x00010000 accept/);
            assert.deepEqual(await ruleset(pair, true), before, "another table changed");
            const status = await daemon!.stop("SIGTERM");
            daemon = undefined;
            assert.equal(status.code, 0);
            assert.deepEqual(await ruleset(pair, false), before, "ruleset differs after shutdown");
          },
        );
      } finally {
        await kc?.close();
        await daemon?.stop("SIGKILL");
        await fx.cleanup();
      }
    });
  },
});

/**
 * Knock → open latency and grant throughput through a real daemon, end to end in network
 * namespaces (root, `ip` and `nft` needed):
 *
 *   deno run -A bench/knock_bench.ts [--knocks 200] [--seconds 5] [--lanes 32] [--json]
 *
 * Setup: server and client namespaces joined by a veth pair; in the server namespace a TCP
 * listener on 2222 behind a `policy drop` host filter that accepts siglatch's mark, and
 * `siglatchd` (`ip netns exec`, the test permission flags) on the server veth address;
 * `--knocks` extra addresses on the client veth. Knocks come from knock clients
 * (`tests/_helpers/knock_client.ts`) in the client namespace.
 *
 * 1. knock → open: from each of the `--knocks` distinct client addresses in turn, one knock
 *    for tcp/2222 while TCP connects from the same address start every millisecond; the
 *    time from the knock leaving to the first connect that succeeds (and to the reply).
 * 2. grants/s: `--lanes` client addresses each keep one pre-sealed firewall request in
 *    flight for `--seconds`, every request naming a different address in its payload (so
 *    each is a new kernel element, store record and nft change), while a second client
 *    process sends a `ping` every 10 ms: its reply latency is the daemon's responsiveness
 *    under the grant load (compare the unloaded figure measured first).
 * @module
 */
import { makeFixture } from "../tests/_helpers/daemon.ts";
import { spawnKnockClient } from "../tests/_helpers/knock_client.ts";
import { skipNetns, startDaemonIn, withNetnsPair } from "../tests/_helpers/netns.ts";

const PORT = 62201;

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const round = (v: number) => Math.round(v * 100) / 100;

const knocks = Math.min(flag("knocks", 200), 240);
const seconds = Math.min(flag("seconds", 5), 60);
const lanes = Math.min(flag("lanes", 32), knocks);
const asJson = Deno.args.includes("--json");

if (skipNetns()) Deno.exit(0);

const report = await withNetnsPair(async (pair) => {
  const net24 = pair.clientIp.replace(/\.\d+$/, "");
  const extra = Array.from({ length: knocks }, (_, i) => `${net24}.${10 + i}`);
  await pair.addClientAddresses(extra.map((a) => `${a}/24`));
  await pair.nft(
    pair.server,
    `table inet hostfw {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif "lo" accept
    udp dport ${PORT} accept
    meta mark & 0x20000000 == 0x20000000 accept
  }
}
`,
  );
  await pair.listen(2222);
  const fx = await makeFixture({
    listen: [`${pair.serverIp}:${PORT}`],
    server: { challenge_under_load: false },
    top: {
      limits: { reply_rate: 1_000_000 },
      rate_limit: { per_source_rate: 1_000_000, per_source_burst: 1_000_000 },
      logging: { level: "info", format: "json", drop_log_rate: 10 },
    },
    aliceActions: ["open", "open-for"],
    actions: [
      {
        id: 10,
        name: "open",
        type: "firewall",
        firewall: { ports: [{ proto: "tcp", port: 2222 }], duration: "5m" },
      },
      {
        id: 11,
        name: "open-for",
        type: "firewall",
        firewall: {
          ports: [{ proto: "tcp", port: 2222 }],
          duration: "5m",
          allow_payload_address: true,
        },
        // The action's CIDRs bound both who may send it and the addresses it may name.
        allow_cidrs: [`${pair.clientIp.replace(/\.\d+$/, ".0")}/24`, "10.99.0.0/16"],
      },
    ],
  });
  const daemon = await startDaemonIn(pair.server, fx.config);
  const init = {
    host: pair.serverIp,
    port: PORT,
    serverPublic: fx.serverPublic,
    userId: 1,
    hmacKey: fx.aliceKey,
  };
  const loader = await spawnKnockClient(pair.client, init);
  const pinger = await spawnKnockClient(pair.client, init);
  try {
    // Warm up (JIT, the store, the nft path) from the primary address.
    for (let i = 0; i < 20; i++) await loader.send({ actionId: 1 });
    await loader.send({ actionId: 10 });

    // 1. knock → open, one distinct address at a time.
    const openMs: number[] = [];
    const replyMs: number[] = [];
    let neverOpened = 0;
    for (const bind of extra) {
      const r = await loader.knockOpen({
        actionId: 10,
        bind,
        connectHost: pair.serverIp,
        connectPort: 2222,
        deadlineMs: 2000,
        pollMs: 1,
      });
      if (r.openMs === undefined) neverOpened++;
      else openMs.push(r.openMs);
      if (r.replyMs !== undefined) replyMs.push(r.replyMs);
    }
    openMs.sort((a, b) => a - b);
    replyMs.sort((a, b) => a - b);

    // 2. unloaded ping, then grants/s with pings alongside.
    const idle = await pinger.pings({ actionId: 1, bind: pair.clientIp, count: 200, everyMs: 5 });
    const count = Math.min(400_000, Math.ceil(seconds * 6000));
    const payloads = Array.from(
      { length: Math.min(count, 65_000) },
      (_, i) => `10.99.${(i >> 8) & 255}.${i & 255}`,
    );
    const blast = loader.blast({
      actionId: 11,
      payloads,
      sources: extra.slice(0, lanes),
      count,
      seconds,
      timeoutMs: 2000,
    });
    // The blaster seals first (≈ count / 8k s); start pinging once it is sending.
    await new Promise((r) => setTimeout(r, (count / 8000) * 1000 + 300));
    const busy = await pinger.pings({
      actionId: 1,
      bind: pair.clientIp,
      count: Math.floor((seconds * 1000 - 600) / 10),
      everyMs: 10,
    });
    const grants = await blast;
    const set = await pair.run(pair.server, [
      "nft",
      "-j",
      "list",
      "set",
      "inet",
      "siglatch",
      "grants_v4",
    ]);
    const elements = (set.stdout.match(/"concat"/g) ?? []).length;
    return {
      knock_to_open: {
        knocks: extra.length,
        opened: openMs.length,
        never_opened: neverOpened,
        median_ms: round(quantile(openMs, 0.5)),
        p99_ms: round(quantile(openMs, 0.99)),
        max_ms: round(openMs.at(-1) ?? NaN),
        reply_median_ms: round(quantile(replyMs, 0.5)),
        reply_p99_ms: round(quantile(replyMs, 0.99)),
      },
      grants: {
        lanes,
        seconds: round(grants.seconds),
        sent: grants.sent,
        ok: grants.ok,
        lost: grants.lost,
        grants_per_second: Math.round(grants.okPerSecond),
        reply_p50_ms: round(grants.p50Ms),
        reply_p99_ms: round(grants.p99Ms),
        kernel_elements_after: elements,
      },
      ping_idle: {
        n: idle.ok,
        lost: idle.lost,
        p50_ms: round(idle.p50Ms),
        p99_ms: round(idle.p99Ms),
      },
      ping_during_grants: {
        n: busy.ok,
        lost: busy.lost,
        p50_ms: round(busy.p50Ms),
        p99_ms: round(busy.p99Ms),
        max_ms: round(busy.maxMs),
        p99_within_5ms: busy.p99Ms <= 5 && busy.lost === 0,
      },
    };
  } finally {
    await loader.close();
    await pinger.close();
    await daemon.stop("SIGTERM");
    await fx.cleanup();
  }
});

if (asJson) console.log(JSON.stringify(report));
else {
  const k = report.knock_to_open;
  const g = report.grants;
  const p = report.ping_during_grants;
  console.log(
    `knock → open (${k.opened}/${k.knocks} distinct addresses): median ${k.median_ms} ms, ` +
      `p99 ${k.p99_ms} ms, max ${k.max_ms} ms (reply median ${k.reply_median_ms} ms, p99 ${k.reply_p99_ms} ms)`,
  );
  console.log(
    `grants/s through the daemon: ${g.grants_per_second} (${g.ok} ok, ${g.lost} lost in ${g.seconds} s, ` +
      `${g.lanes} lanes; reply p50 ${g.reply_p50_ms} ms, p99 ${g.reply_p99_ms} ms; ` +
      `${g.kernel_elements_after} elements in grants_v4 after)`,
  );
  console.log(
    `ping meanwhile: p50 ${p.p50_ms} ms, p99 ${p.p99_ms} ms, max ${p.max_ms} ms, lost ${p.lost} ` +
      `(idle p50 ${report.ping_idle.p50_ms} ms, p99 ${report.ping_idle.p99_ms} ms): ` +
      (p.p99_within_5ms ? "p99 within 5 ms" : "p99 NOT within 5 ms"),
  );
}

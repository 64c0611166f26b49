/**
 * What a relay costs (issue 18): builtin pings to a real daemon C straight, against the same
 * pings through a relay daemon A (client → A → C), in the same run, closed loop, `LANES`
 * requests in flight. Each request is sealed by `sendRequest` in this process (through the
 * relay: sealed to C, then wrapped for A, so two X25519 on the client and one on each daemon)
 * and waits for its reply. Segments A-B-B-A so drift on a shared machine falls on both.
 *
 * Run: `deno run -A bench/relay_bench.ts [SECONDS_PER_SEGMENT] [LANES]` (defaults 2 and 8:
 * about 12 s with the daemons' start). Prints ok/s and p50/p99 of each and the ratios.
 *
 * Reading it: a direct ping is read-only, so C answers before its nonce is durable; a relay
 * action is not, so A commits the outer request's nonce to its state store and records it in
 * the retry cache before it forwards. On the shared 2-core machine that commit is most of the
 * gap (2026-11-29: ok/s ×0.09 as built, ×0.35 with the relay marked read-only in a scratch run).
 * @module
 */
import { freeUdpPort, makeFixture, startDaemon } from "../tests/_helpers/daemon.ts";
import { addRelayAction, RELAY_ID } from "../tests/_helpers/relay_nodes.ts";
import { type SendOptions, sendRequest } from "../src/client/send.ts";

const seconds = Number(Deno.args[0] ?? 2);
const lanes = Number(Deno.args[1] ?? 8);
const open = {
  limits: { reply_rate: 1_000_000 },
  rate_limit: { per_source_rate: 1_000_000, per_source_burst: 1_000_000 },
  logging: { level: "info", format: "json", drop_log_rate: 10 },
};

const cPort = freeUdpPort("127.0.0.4");
const c = await makeFixture({ listen: [`127.0.0.4:${cPort}`], top: open });
const aPort = freeUdpPort("127.0.0.2");
const a = await makeFixture({ listen: [`127.0.0.2:${aPort}`], top: open });
await Deno.writeTextFile(`${a.dir}/alice.hmac`, c.aliceKey.toBase64() + "\n", { mode: 0o600 });
await addRelayAction(a.config, {
  to: `127.0.0.4:${cPort}`,
  server_public_key: c.serverPublic.toBase64(),
  max_pending: 256,
});

/** One segment's figures. */
interface Outcome {
  ok: number;
  lost: number;
  okPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

const base: SendOptions = {
  host: "127.0.0.4",
  port: cPort,
  serverPublic: c.serverPublic,
  userId: 1,
  auth: { kind: "hmac", key: c.aliceKey },
  actionId: 1,
  wait: true,
  timeoutMs: 1000,
  retries: 0,
};
const viaA = [{
  host: "127.0.0.2",
  port: aPort,
  serverPublic: a.serverPublic,
  actionId: RELAY_ID,
}];

async function segment(relayed: boolean, secs: number): Promise<Outcome> {
  const rtts: number[] = [];
  let lost = 0;
  const end = performance.now() + secs * 1000;
  const start = performance.now();
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (performance.now() < end) {
      const r = await sendRequest(relayed ? { ...base, via: viaA } : base);
      if (r.answered && r.status === 0 && r.rttMs !== undefined) rtts.push(r.rttMs);
      else lost++;
    }
  }));
  const took = (performance.now() - start) / 1000;
  rtts.sort((x, y) => x - y);
  const q = (p: number) =>
    rtts.length ? rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))] : NaN;
  return { ok: rtts.length, lost, okPerSecond: rtts.length / took, p50Ms: q(0.5), p99Ms: q(0.99) };
}

function line(name: string, r: Outcome): string {
  return `${name}: ${r.okPerSecond.toFixed(0)} ok/s (${r.ok} ok, ${r.lost} lost), ` +
    `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`;
}

function mean(x: Outcome, y: Outcome): Outcome {
  return {
    ok: x.ok + y.ok,
    lost: x.lost + y.lost,
    okPerSecond: (x.okPerSecond + y.okPerSecond) / 2,
    p50Ms: (x.p50Ms + y.p50Ms) / 2,
    p99Ms: (x.p99Ms + y.p99Ms) / 2,
  };
}

const [dc, da] = await Promise.all([startDaemon(c.config), startDaemon(a.config)]);
try {
  await segment(false, 0.5); // warm-up: JIT, state stores, sockets
  await segment(true, 0.5);
  const d1 = await segment(false, seconds);
  const r1 = await segment(true, seconds);
  const r2 = await segment(true, seconds);
  const d2 = await segment(false, seconds);
  const direct = mean(d1, d2);
  const relayed = mean(r1, r2);
  console.log(line("ping direct (client → C)", direct));
  console.log(line("ping through one relay (client → A → C)", relayed));
  console.log(
    `relayed / direct (${lanes} in flight, ${2 * seconds} s each): ok/s ×${
      (relayed.okPerSecond / direct.okPerSecond).toFixed(2)
    }, p50 ×${(relayed.p50Ms / direct.p50Ms).toFixed(2)}, p99 ×${
      (relayed.p99Ms / direct.p99Ms).toFixed(2)
    }`,
  );
} finally {
  await da.stop();
  await dc.stop();
  await a.cleanup();
  await c.cleanup();
}

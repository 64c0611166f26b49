/**
 * Issue 13's costly flood: mac1-VALID datagrams (each would cost the daemon an X25519 if it
 * opened them, then fail authentication) from spoofed random 10.0.0.0/8 sources, while the
 * real client pings. Root only: the sender (`spoofer.py`) needs a raw socket.
 *
 * Topology, created per scenario and deleted in `finally`: two network namespaces joined by
 * a veth pair (`tests/_helpers/netns.ts`). The daemon (and then the floor receiver) runs in
 * the server namespace on the veth address, with rp_filter off there (spoofed sources are
 * not martians) and a default route back over the veth (replies to spoofed sources leave
 * and are dropped by the client namespace, which does not forward). The spoofer and the
 * pinger (20 addresses on the client veth, one cookie jar each) run in the client
 * namespace. Nothing on the host changes.
 * @module
 */
import { sealRequest } from "../../src/wire/request.ts";
import { mac1Key } from "../../src/wire/mac1.ts";
import { SUITE_V2 } from "../../src/wire/suite.ts";
import { hasCommand, isRoot } from "../../tests/_helpers/system.ts";
import { acceptSpoofedSources, withNetnsPair } from "../../tests/_helpers/netns.ts";
import { readUdpDropsIn } from "../udpstats.ts";
import { sampleProc, sleep } from "./common.ts";
import {
  BENCH_RECV_BUFFER,
  type ChildRun,
  expectLine,
  figures,
  type FloodResult,
  type FloodScenario,
  pick,
  ratios,
  spawnChild,
  startBenchDaemon,
  type TargetFigures,
  watch,
} from "./harness.ts";
import type { PingReport } from "./pinger.ts";

const HERE = new URL(".", import.meta.url).pathname;
const CHILD_FLAGS = ["run", "--allow-read", "--allow-net", "--allow-env", "--allow-ffi"];

/** The spoofed sender's interpreter (Debian's python3). */
const PYTHON = "/usr/bin/python3";

/** `--only` name that selects every scenario of this file. */
export const SPOOFED_MAC1 = "mac1-spoofed";

/**
 * How long the flood runs before the pinger starts (ms): the valid figures are the sustained
 * flood's, not its first second, when a freshly started daemon's receive path is not yet
 * compiled and the kernel buffer fills before the load signal is on (measured on an idle
 * machine: every request slower than 100 ms at 50k/s and all but two at 100k/s started in the
 * flood's first second). `SIGLATCH_BENCH_ONSET_MS=0` measures from the first datagram.
 */
export const ONSET_MS = Number(Deno.env.get("SIGLATCH_BENCH_ONSET_MS") ?? 1000);

/** Distinct mac1-valid datagrams in the pool the spoofer cycles through. */
export const POOL_SIZE = 2000;

/** Why these scenarios cannot run here, or undefined when they can. */
export function spoofedSkipReason(): string | undefined {
  if (!isRoot) return "not root (the spoofed sender needs a raw socket)";
  const missing = hasCommand("ip") ? [] : ["ip"];
  try {
    Deno.statSync(PYTHON);
  } catch {
    missing.push(PYTHON);
  }
  return missing.length > 0 ? `${missing.join(", ")} missing` : undefined;
}

/**
 * 50k/s, 100k/s and the sender's max (or `rates`, 0 = max), each with cookies on (the
 * default) and off.
 */
export function spoofedScenarios(
  seconds: number,
  rates: readonly number[] = [50_000, 100_000, 0],
): FloodScenario[] {
  const out: FloodScenario[] = [];
  for (const rate of rates) {
    for (const cookies of [true, false]) {
      out.push({
        name: `${SPOOFED_MAC1}-${rate === 0 ? "max" : `${rate / 1000}k`}-${
          cookies ? "cookies" : "nocookies"
        }`,
        size: 0,
        rate,
        sources: "spoofed-mac1",
        seconds,
        cookies,
      });
    }
  }
  return out;
}

/**
 * Writes `count` mac1-valid requests for `serverPublic` (user 1, action 1) authenticated
 * with a random HMAC key nobody has: each passes mac1, costs the server an X25519 and an
 * AEAD open, then fails authentication. Format: 2-byte big-endian length, bytes. Returns
 * the datagram size.
 */
export async function writeMac1Pool(
  path: string,
  serverPublic: Uint8Array,
  count = POOL_SIZE,
): Promise<number> {
  const wrongKey = crypto.getRandomValues(new Uint8Array(32));
  const parts: Uint8Array[] = [];
  let total = 0;
  let size = 0;
  for (let i = 0; i < count; i++) {
    const d = sealRequest(serverPublic, { kind: "hmac", key: wrongKey }, {
      type: "request",
      userId: 1,
      actionId: 1,
    }).datagram;
    const head = new Uint8Array([d.length >> 8, d.length & 255]);
    parts.push(head, d);
    total += 2 + d.length;
    size = d.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  await Deno.writeFile(path, out, { mode: 0o600 });
  return size;
}

function inNs(ns: string, argv: string[]): ChildRun {
  return spawnChild("ip", ["netns", "exec", ns, ...argv]);
}

/**
 * Starts the spoofer processes (ready, not going); 2 above 60k/s and at max. Each is pushed
 * onto `started` as soon as it exists (the caller kills what is left).
 */
async function spoofers(
  ns: string,
  s: FloodScenario,
  pool: string,
  dst: string,
  port: number,
  started: ChildRun[],
  mac1KeyHex: string,
): Promise<{ start(): Promise<void>; finish(): Promise<{ sent: number; seconds: number }> }> {
  const procs = s.rate === 0 || s.rate > 60_000 ? 2 : 1;
  const children = Array.from({ length: procs }, () =>
    inNs(ns, [
      PYTHON,
      `${HERE}spoofer.py`,
      "--pool",
      pool,
      "--dst",
      dst,
      "--port",
      String(port),
      "--rate",
      String(s.rate / procs),
      "--seconds",
      String(s.seconds + ONSET_MS / 1000),
      "--mac1-key",
      mac1KeyHex,
      "--unique",
      Deno.env.get("SIGLATCH_BENCH_UNIQUE") ?? "250000",
    ]));
  started.push(...children);
  await Promise.all(children.map((c) => expectLine(c, "ready")));
  return {
    start: async () => {
      await Promise.all(children.map((c) => c.go()));
    },
    async finish() {
      const rs = await Promise.all(
        children.map((c) => c.result<{ sent: number; seconds: number }>()),
      );
      return {
        sent: rs.reduce((a, r) => a + r.sent, 0),
        seconds: Math.max(...rs.map((r) => r.seconds)),
      };
    },
  };
}

function kill(c: ChildRun): void {
  try {
    c.proc.kill("SIGKILL");
  } catch {
    // gone
  }
}

/**
 * One scenario: the flood against a fresh daemon with the pinger alongside, then the same
 * flood against the floor receiver in the same namespace; every namespace and process is
 * gone when it returns.
 */
export function floodSpoofedMac1(s: FloodScenario): Promise<FloodResult> {
  return withNetnsPair(async (pair) => {
    const { server, client, serverIp } = pair;
    await acceptSpoofedSources(pair);
    const net24 = pair.clientIp.replace(/\.\d+$/, "");
    const pingFrom = `${net24}.10-${net24}.29`;
    await pair.addClientAddresses(
      Array.from({ length: 20 }, (_, i) => `${net24}.${10 + i}/24`),
    );

    const tmp = await Deno.makeTempDir({ prefix: "siglatch-spoof-" });
    const children: ChildRun[] = [];
    let stopped = false;
    const d = await startBenchDaemon(false, undefined, {
      netns: server,
      host: serverIp,
      cookies: s.cookies,
    }).catch(async (err) => {
      await Deno.remove(tmp, { recursive: true });
      throw err;
    });
    try {
      const pool = `${tmp}/mac1-pool.bin`;
      const serverPublic = await serverPublicOf(d.target);
      s.size = await writeMac1Pool(pool, serverPublic);
      // Every datagram unique (fresh enc' bytes, mac1 recomputed), as an attacker makes them.
      const key = mac1Key(SUITE_V2.mac1Label.secure, serverPublic).toHex();
      const senders = await spoofers(client, s, pool, serverIp, d.port, children, key);
      const pinger = inNs(client, [
        Deno.execPath(),
        ...CHILD_FLAGS,
        `${HERE}pinger.ts`,
        "--target",
        d.target,
        "--rate",
        "20",
        "--seconds",
        String(s.seconds),
        "--retries",
        "3",
        "--timeout",
        "250",
        "--sources",
        pingFrom,
      ]);
      children.push(pinger);
      await expectLine(pinger, "ready");
      const drops0 = await readUdpDropsIn(server, d.port);
      const w = watch(d.pid);
      const before = (await sampleProc(d.pid))!;
      await senders.start();
      await sleep(ONSET_MS);
      await pinger.go();
      const sent = await senders.finish();
      const after = await w.stop();
      const drops = (await readUdpDropsIn(server, d.port)) - drops0;
      const valid = await pinger.result<PingReport>();
      const alive = w.alive();
      const counters = alive ? await d.counters().catch(() => ({})) : {};
      const received = (counters as Record<string, number>).received ?? NaN;
      const daemon = figures(sent, received, before, after, drops, alive, w.rss);
      stopped = true;
      await d.stop();
      const floor = await floodFloorIn(pair.server, client, s, pool, serverIp, children, key);
      return {
        scenario: s,
        offeredPerSec: s.rate,
        daemon,
        valid,
        floor,
        ratio: ratios(daemon, floor),
        counters: pick(counters as Record<string, number>),
      };
    } finally {
      children.forEach(kill);
      await Promise.all(children.map((c) => c.proc.status.catch(() => {})));
      if (!stopped) await d.stop().catch(() => {});
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  });
}

async function serverPublicOf(target: string): Promise<Uint8Array> {
  const t = JSON.parse(await Deno.readTextFile(target)) as { serverPublic: string };
  return Uint8Array.fromBase64(t.serverPublic);
}

/** The same spoofed flood against the bare counting receiver on the server veth address. */
async function floodFloorIn(
  server: string,
  client: string,
  s: FloodScenario,
  pool: string,
  host: string,
  started: ChildRun[],
  mac1KeyHex: string,
): Promise<TargetFigures> {
  const rx = inNs(server, [
    Deno.execPath(),
    ...CHILD_FLAGS,
    `${HERE}floor_receiver.ts`,
    "--host",
    host,
    "--loops",
    "4",
    "--recv-buffer",
    String(BENCH_RECV_BUFFER),
  ]);
  try {
    const { port } = JSON.parse(await expectLine(rx, "port")) as { port: number };
    const senders = await spoofers(client, s, pool, host, port, started, mac1KeyHex);
    const drops0 = await readUdpDropsIn(server, port);
    const w = watch(rx.proc.pid);
    const before = (await sampleProc(rx.proc.pid))!;
    await senders.start();
    const sent = await senders.finish();
    const after = await w.stop();
    const drops = (await readUdpDropsIn(server, port)) - drops0;
    await rx.go();
    const { received } = JSON.parse(await expectLine(rx, "count")) as { received: number };
    return figures(sent, received, before, after, drops, w.alive(), w.rss);
  } finally {
    await Promise.race([rx.result<unknown>().catch(() => {}), sleep(5000)]);
    kill(rx);
  }
}

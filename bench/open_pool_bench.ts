/**
 * Opens on every core: valid request opens per second in the main thread (`RequestOpener`,
 * no pool) against an `OpenPool` of 1 and 2 workers, as ratios to the in-thread figure of the
 * same run; the same with one datagram per worker message (no batching); and what one garbage
 * datagram costs through the pool against in-thread, for random bytes (bad mac1: in the
 * daemon these never reach the pool) and for mac1-valid random bytes (an X25519 each).
 * Main-thread CPU per datagram comes from `process.threadCpuUsage()`.
 *
 * Run: `deno run --allow-read --allow-sys bench/open_pool_bench.ts [VALID] [GARBAGE]`
 * (default 6000 valid and 30000 garbage datagrams per run; each figure is the median of 3).
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import process from "node:process";
import { generateX25519 } from "../src/crypto/keys.ts";
import { mac1Key } from "../src/wire/mac1.ts";
import { RequestOpener, sealRequest, SUITE_V1 } from "../src/wire/mod.ts";
import { OpenPool, type PoolServer } from "../src/daemon/open_pool.ts";
import { BatchOpener } from "../src/daemon/open_worker.ts";

const nValid = Number(Deno.args[0] ?? 6000);
const nGarbage = Number(Deno.args[1] ?? 30000);
const ROUNDS = 3;

const server = generateX25519();
const hmacKey = new Uint8Array(randomBytes(32));
const users = [{ id: 1, hmacKey }];
const lookup = (id: number) => (id === 1 ? { hmacKey } : undefined);
const now = Date.now();
const servers: PoolServer[] = [{
  name: "s",
  x25519Private: server.privateKey,
  x25519Public: server.publicKey,
  insecure: false,
  skewMs: 30_000,
}];
const opener = new RequestOpener({
  x25519Private: server.privateKey,
  x25519Public: server.publicKey,
  clock: () => now,
});

const valid = Array.from(
  { length: 256 },
  () =>
    sealRequest(server.publicKey, { kind: "hmac", key: hmacKey }, {
      type: "request",
      userId: 1,
      actionId: 1,
      payload: new TextEncoder().encode("open ssh for 5 minutes"),
    }, { now }).datagram,
);
const random = Array.from({ length: 256 }, () => new Uint8Array(randomBytes(200)));
const key = mac1Key(SUITE_V1.mac1Label.secure, server.publicKey);
const mac1Valid = random.map((r) => {
  const out = new Uint8Array(r.length + 16);
  out.set(r);
  out.set(createHash("sha256").update(key).update(r).digest().subarray(0, 16), r.length);
  return out;
});

/** Main-thread CPU seconds (`process.threadCpuUsage`, 10 ms resolution on Linux). */
function mainCpu(): number {
  const u = (process as unknown as { threadCpuUsage(): { user: number; system: number } })
    .threadCpuUsage();
  return (u.user + u.system) / 1e6;
}

interface Run {
  perSec: number;
  cpuUsPer: number;
  batch: number;
}

function inline(set: Uint8Array[], n: number): Run {
  const c0 = mainCpu();
  const t0 = performance.now();
  let ok = 0;
  for (let i = 0; i < n; i++) if (opener.open(set[i & 255], lookup).ok) ok++;
  const s = (performance.now() - t0) / 1000;
  if (set === valid && ok !== n) throw new Error("inline: a valid open failed");
  return { perSec: n / s, cpuUsPer: (mainCpu() - c0) * 1e6 / n, batch: 1 };
}

/** What a worker does per batch (open + the interim reply-key derivation), in this thread. */
function workerWork(set: Uint8Array[], n: number): Run {
  const b = new BatchOpener();
  b.setKeys({ t: "keys", servers, users });
  const t0 = performance.now();
  for (let i = 0; i < n; i += 64) {
    const k = Math.min(64, n - i);
    const parts = Array.from({ length: k }, (_, j) => set[(i + j) & 255]);
    const data = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) data.set(p, (at += p.length) - p.length);
    b.openBatch({
      t: "batch",
      now,
      data,
      lengths: parts.map((p) => p.length),
      servers: parts.map(() => "s"),
    });
  }
  return { perSec: n / ((performance.now() - t0) / 1000), cpuUsPer: NaN, batch: 64 };
}

async function pooled(
  set: Uint8Array[],
  n: number,
  workers: number,
  maxBatch?: number,
  batchesPerWorker?: number,
): Promise<Run> {
  const pool = await OpenPool.start({
    workers,
    servers,
    users,
    queueLimit: n,
    clock: () => now,
    maxBatch,
    batchesPerWorker,
  });
  try {
    // Warm the workers (JIT) first.
    await Promise.all(Array.from({ length: 200 }, (_, i) => pool.open("s", set[i & 255], false)));
    const before = pool.stats.batches;
    const c0 = mainCpu();
    const t0 = performance.now();
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) all.push(pool.open("s", set[i & 255], false)!);
    const results = await Promise.all(all);
    const s = (performance.now() - t0) / 1000;
    const cpu = mainCpu() - c0;
    if (set === valid && results.some((r) => !(r as { ok: boolean }).ok)) {
      throw new Error("pool: a valid open failed");
    }
    return { perSec: n / s, cpuUsPer: cpu * 1e6 / n, batch: n / (pool.stats.batches - before) };
  } finally {
    await pool.stop();
  }
}

async function median(f: () => Run | Promise<Run>): Promise<Run> {
  const runs: Run[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await f());
  runs.sort((a, b) => a.perSec - b.perSec);
  return runs[Math.floor(ROUNDS / 2)];
}

const fmt = (x: number, d = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d })
    : "–";

const loadBefore = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
inline(valid, 500); // warm up
const rows: [string, Run, Run][] = [];
const vInline = await median(() => inline(valid, nValid));
rows.push(["valid HMAC: in-thread RequestOpener.open", vInline, vInline]);
rows.push([
  "valid HMAC: worker's work in-thread (open + reply key)",
  await median(() => workerWork(valid, nValid)),
  vInline,
]);
rows.push([
  "valid HMAC: pool, 1 worker",
  await median(() => pooled(valid, nValid, 1)),
  vInline,
]);
rows.push([
  "valid HMAC: pool, 2 workers",
  await median(() => pooled(valid, nValid, 2)),
  vInline,
]);
rows.push([
  "valid HMAC: pool, 2 workers, 2 batches per worker at a time",
  await median(() => pooled(valid, nValid, 2, undefined, 2)),
  vInline,
]);
rows.push([
  "valid HMAC: pool, 2 workers, 1 datagram per message",
  await median(() => pooled(valid, nValid, 2, 1)),
  vInline,
]);
const gInline = await median(() => inline(random, nGarbage));
rows.push(["random garbage (bad mac1): in-thread", gInline, gInline]);
rows.push([
  "random garbage (bad mac1): pool, 2 workers",
  await median(() => pooled(random, nGarbage, 2)),
  gInline,
]);
const mInline = await median(() => inline(mac1Valid, nValid));
rows.push(["mac1-valid garbage: in-thread", mInline, mInline]);
rows.push([
  "mac1-valid garbage: pool, 1 worker",
  await median(() => pooled(mac1Valid, nValid, 1)),
  mInline,
]);
rows.push([
  "mac1-valid garbage: pool, 2 workers",
  await median(() => pooled(mac1Valid, nValid, 2)),
  mInline,
]);

console.log(
  `${navigator.hardwareConcurrency} CPUs, load average before ${loadBefore}, after ${
    Deno.loadavg().map((x) => x.toFixed(2)).join(" ")
  }; ` +
    `median of ${ROUNDS}; ratio = per second / in-thread per second of the same datagrams`,
);
console.log("");
console.log("| run | per second | ratio | µs wall each | main-thread CPU µs each | mean batch |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const [name, r, base] of rows) {
  console.log(
    `| ${name} | ${fmt(r.perSec)} | ${fmt(r.perSec / base.perSec, 2)} | ${
      fmt(1e6 / r.perSec, 2)
    } | ${fmt(r.cpuUsPer, 2)} | ${fmt(r.batch, 1)} |`,
  );
}

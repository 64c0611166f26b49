/**
 * Valid-request prober: sends builtin pings with the real client (`sendRequest`, fresh
 * seal per attempt, up to `--retries` retries of `--timeout` ms each) and records each
 * request's success and latency (from the call to the answer, retries included).
 *
 * - steady mode (default): `--rate` requests/s, concurrently, for `--seconds`;
 * - `--sequential N`: N requests one after another (the unloaded latency figure).
 *
 * Requests rotate over the `--sources` addresses so that the default per-source limits
 * (50 datagrams/s, 20 replies/s per address) are not what is being measured. Each source
 * address keeps its own cookie jar, as a separate client would (a cookie is bound to the
 * address it was sent to). `--host` (default the target's host, else 127.0.0.1) is the
 * daemon's address; a 10.213.x.y host allows 10.213.x.y sources (the bench's netns veth).
 * Prints `ready`, waits for a stdin line, runs, prints one JSON line (see {@linkcode PingReport}).
 * @module
 */
import { sendRequest } from "../../src/client/send.ts";
import { CookieJar } from "../../src/client/cookies.ts";
import { expandAddresses, numFlag, parseFlags, quantile, readyAndWait, sleep } from "./common.ts";
import { readTarget, targetRequest } from "./target.ts";

/** What the prober prints. */
export interface PingReport {
  /** Requests started. */
  sent: number;
  /** Requests answered with status ok (within the retries). */
  ok: number;
  /** ok / sent. */
  successRatio: number;
  /** Latency of answered requests, ms (call to answer, retries included). */
  p50Ms: number;
  /** 99th percentile, ms. */
  p99Ms: number;
  /** Slowest answered, ms. */
  maxMs: number;
  /** Round trip of the answered attempt only (send to reply), median, ms. */
  rttP50Ms: number;
  /** Round trip of the answered attempt only, 99th percentile, ms. */
  rttP99Ms: number;
  /** How many requests needed 1, 2, 3, … attempts. */
  attempts: Record<string, number>;
  /**
   * Requests whose source held a fresh cookie when they started (it talked to the daemon in
   * the last two minutes) and those that did not (first contact): sent, ok, p99 ms each.
   */
  warm?: { sent: number; ok: number; p99Ms: number };
  /** First-contact requests (no cookie yet): sent, ok, p99 ms. */
  cold?: { sent: number; ok: number; p99Ms: number };
  /** Requests slower than 100 ms or failed: when they started (ms into the run), how long. */
  slow?: { atMs: number; ms: number; ok: boolean; warm: boolean; attempts: number }[];
}

const flags = parseFlags(Deno.args);
const target = await readTarget(flags.get("target") ?? "");
const rate = numFlag(flags, "rate", 20);
const seconds = Math.min(numFlag(flags, "seconds", 5), 120);
const sequential = numFlag(flags, "sequential", 0);
const retries = numFlag(flags, "retries", 3);
const timeoutMs = numFlag(flags, "timeout", 250);
const host = flags.get("host") ?? target.host ?? "127.0.0.1";
const sources = expandAddresses(
  flags.get("sources") ?? "127.0.1.1-127.0.1.20",
  host.startsWith("10.213."),
);
const jars = new Map(sources.map((s) => [s, new CookieJar()]));

interface Sample {
  ok: boolean;
  warm: boolean;
  at: number;
  ms: number;
  rtt: number;
  attempts: number;
}
const samples: Sample[] = [];
let t0 = performance.now();
let next = 0;

async function one(): Promise<void> {
  const bind = sources[next++ % sources.length];
  const jar = jars.get(bind)!;
  const warm = jar.cookie(CookieJar.key(host, target.port, target.serverPublic)) !== undefined;
  const t = performance.now();
  try {
    const r = await sendRequest(
      targetRequest(target, bind, { host, jar, timeoutMs, retries }),
    );
    samples.push({
      warm,
      at: t - t0,
      ok: r.answered && r.status === 0,
      ms: performance.now() - t,
      rtt: r.rttMs ?? NaN,
      attempts: r.attempts,
    });
  } catch {
    samples.push({ warm, at: t - t0, ok: false, ms: performance.now() - t, rtt: NaN, attempts: 0 });
  }
}

await readyAndWait();
if (sequential > 0) {
  for (let i = 0; i < sequential; i++) await one();
} else {
  const jobs: Promise<void>[] = [];
  t0 = performance.now();
  const end = t0 + seconds * 1000;
  let started = 0;
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate) + 1;
    while (started < due) {
      jobs.push(one());
      started++;
    }
    await sleep(Math.max(1, 1000 / rate / 2));
  }
  await Promise.all(jobs);
}
const okOnes = samples.filter((s) => s.ok);
const lat = okOnes.map((s) => s.ms).sort((a, b) => a - b);
const rtt = okOnes.map((s) => s.rtt).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
const attempts: Record<string, number> = {};
for (const s of samples) {
  attempts[s.ok ? String(s.attempts) : "failed"] =
    (attempts[s.ok ? String(s.attempts) : "failed"] ?? 0) + 1;
}
function part(warm: boolean): { sent: number; ok: number; p99Ms: number } {
  const mine = samples.filter((s) => s.warm === warm);
  const ms = mine.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b);
  return { sent: mine.length, ok: ms.length, p99Ms: quantile(ms, 0.99) };
}
const report: PingReport = {
  sent: samples.length,
  ok: okOnes.length,
  successRatio: samples.length ? okOnes.length / samples.length : 0,
  p50Ms: quantile(lat, 0.5),
  p99Ms: quantile(lat, 0.99),
  maxMs: lat.length ? lat[lat.length - 1] : NaN,
  rttP50Ms: quantile(rtt, 0.5),
  rttP99Ms: quantile(rtt, 0.99),
  attempts,
  warm: part(true),
  cold: part(false),
  slow: samples.filter((s) => !s.ok || s.ms > 100).map((s) => ({
    atMs: Math.round(s.at),
    ms: Math.round(s.ms),
    ok: s.ok,
    warm: s.warm,
    attempts: s.attempts,
  })),
};
console.log(JSON.stringify(report));

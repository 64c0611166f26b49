/**
 * Issue 15's throughput figures, all from one run on the same machine:
 *
 * 1. valid builtin pings answered per second with sessions (sessions opened first, closed
 *    loop, `sessionThroughput`) against first-contact requests (pre-sealed, one X25519 each
 *    on the server, `throughput`), same lanes, fresh daemon each, limits raised. "Per core"
 *    is ok per daemon CPU-second (the daemon's threads together: its open workers too);
 * 2. first contact with sessions off (`limits.sessions.max: 0`) against on (the default), in
 *    the order off, on, on, off (`--rounds 2`; the machine is shared, so order must not
 *    decide), each side's best run kept: sessions must not make first contact slower.
 *
 * Run:
 *   deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-sys \
 *     --allow-ffi bench/sessions_bench.ts [--seconds 5] [--lanes 32] [--procs 2] \
 *     [--count 25000] [--rounds 2] [--out DIR]
 * Writes `sessions.json` ({@linkcode SessionsBenchReport}) and `sessions.md` into `--out`
 * (default bench/results/issue15/) and prints the Markdown. `bench/run.ts` runs it.
 * @module
 */
import { sessionThroughput, throughput, type ThroughputResult } from "./flood/harness.ts";
import { numFlag, parseFlags } from "./flood/common.ts";

/** What `sessions.json` holds. */
export interface SessionsBenchReport {
  /** First contact, sessions on (the first "on" run of the A-B). */
  baseline: ThroughputResult;
  /** Session commands. */
  sessions: ThroughputResult;
  /** sessions / baseline. */
  ratios: { okPerSec: number; okPerCpuSecond: number };
  /** First contact with sessions off and on, every run in the order it ran. */
  ab: { off: ThroughputResult[]; on: ThroughputResult[] };
  /**
   * On / off, best run of each (ok/s and ok per CPU-second) and mean of each (per CPU-second);
   * ≥ ~1 means not slower. ok/s follows the senders' share of a shared machine; per daemon
   * CPU-second is the figure to judge.
   */
  abRatios: { okPerSec: number; okPerCpuSecond: number; meanOkPerCpuSecond: number };
}

const best = (rs: ThroughputResult[], k: "okPerSec" | "okPerCpuSecond") =>
  Math.max(...rs.map((r) => r[k]));
const mean = (rs: ThroughputResult[]) => rs.reduce((a, r) => a + r.okPerCpuSecond, 0) / rs.length;

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args);
  const seconds = numFlag(flags, "seconds", 5);
  const lanes = numFlag(flags, "lanes", 32);
  const procs = numFlag(flags, "procs", 2);
  const count = numFlag(flags, "count", 25_000);
  const rounds = Math.max(1, Math.min(4, numFlag(flags, "rounds", 2)));
  const out = flags.get("out") ?? new URL("./results/issue15/", import.meta.url).pathname;
  const fc = (sessions: boolean) => {
    console.error(`first contact, sessions ${sessions ? "on" : "off"} …`);
    return throughput({ procs, lanes, count, seconds, sessions });
  };

  const ab = { off: [] as ThroughputResult[], on: [] as ThroughputResult[] };
  // off, on, [on, off], …: each round mirrors the last.
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? [false, true] : [true, false];
    for (const on of order) (on ? ab.on : ab.off).push(await fc(on));
  }
  const baseline = ab.on[0];
  console.error("sessions …");
  const sessions = await sessionThroughput({ procs, lanes, seconds });
  const report: SessionsBenchReport = {
    baseline,
    sessions,
    ratios: {
      okPerSec: sessions.okPerSec / baseline.okPerSec,
      okPerCpuSecond: sessions.okPerCpuSecond / baseline.okPerCpuSecond,
    },
    ab,
    abRatios: {
      okPerSec: best(ab.on, "okPerSec") / best(ab.off, "okPerSec"),
      okPerCpuSecond: best(ab.on, "okPerCpuSecond") / best(ab.off, "okPerCpuSecond"),
      meanOkPerCpuSecond: mean(ab.on) / mean(ab.off),
    },
  };

  const row = (r: ThroughputResult) =>
    `| ${r.name} | ${Math.round(r.okPerSec)} | ${Math.round(r.cpuPercent)} % | ` +
    `${Math.round(r.okPerCpuSecond)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} |`;
  const head = [
    "| scenario | ok/s | daemon CPU | ok per CPU-second | p50 ms | p99 ms |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  const x = (n: number) => `${n.toFixed(2)}x`;
  const md = [
    `# Sessions throughput (${new Date().toISOString().slice(0, 10)}, ${seconds} s per run)`,
    "",
    ...head,
    row(baseline),
    row(sessions),
    "",
    `Sessions / first contact: ${x(report.ratios.okPerSec)} ok/s, ` +
    `${x(report.ratios.okPerCpuSecond)} per CPU-second.`,
    "",
    `## First contact, sessions off against on (${rounds} round${
      rounds > 1 ? "s" : ""
    }, in run order)`,
    "",
    ...head,
    ...interleave(ab.off, ab.on).map(row),
    "",
    `On / off (best run of each): ${x(report.abRatios.okPerSec)} ok/s, ` +
    `${x(report.abRatios.okPerCpuSecond)} per CPU-second; mean per CPU-second ` +
    `${x(report.abRatios.meanOkPerCpuSecond)}.`,
    "",
  ].join("\n");
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeTextFile(`${out}/sessions.json`, JSON.stringify(report, null, 2) + "\n");
  await Deno.writeTextFile(`${out}/sessions.md`, md);
  console.log(md);
}

/** The A-B runs in the order they ran (off, on, on, off, …). */
function interleave(off: ThroughputResult[], on: ThroughputResult[]): ThroughputResult[] {
  const out: ThroughputResult[] = [];
  for (let i = 0; i < Math.max(off.length, on.length); i++) {
    const pair = i % 2 === 0 ? [off[i], on[i]] : [on[i], off[i]];
    for (const r of pair) if (r) out.push(r);
  }
  return out;
}

if (import.meta.main) await main();

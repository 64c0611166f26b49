/**
 * Issue 15's throughput figure: valid builtin pings answered per second with sessions
 * (sessions opened first, closed loop, `sessionThroughput`) against first-contact requests
 * (pre-sealed, one X25519 each on the server, `throughput`: today's path), same lanes,
 * fresh daemon each, limits raised. "Per core" is ok per daemon CPU-second (the daemon's
 * threads together: its open workers too). Run:
 *   deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-sys \
 *     --allow-ffi bench/sessions_bench.ts [--seconds 5] [--lanes 32] [--procs 2] [--out DIR]
 * Writes `sessions.json` and `sessions.md` into `--out` (default bench/results/issue15/).
 * @module
 */
import { sessionThroughput, throughput, type ThroughputResult } from "./flood/harness.ts";
import { numFlag, parseFlags } from "./flood/common.ts";

const flags = parseFlags(Deno.args);
const seconds = numFlag(flags, "seconds", 5);
const lanes = numFlag(flags, "lanes", 32);
const procs = numFlag(flags, "procs", 2);
const out = flags.get("out") ?? new URL("./results/issue15/", import.meta.url).pathname;

const baseline = await throughput({ procs, lanes, count: 25_000, seconds });
const sessions = await sessionThroughput({ procs, lanes, seconds });

const row = (r: ThroughputResult) =>
  `| ${r.name} | ${Math.round(r.okPerSec)} | ${Math.round(r.cpuPercent)} % | ` +
  `${Math.round(r.okPerCpuSecond)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} |`;
const md = [
  `# Sessions throughput (${new Date().toISOString().slice(0, 10)}, ${seconds} s per run)`,
  "",
  "| scenario | ok/s | daemon CPU | ok per CPU-second | p50 ms | p99 ms |",
  "| --- | --- | --- | --- | --- | --- |",
  row(baseline),
  row(sessions),
  "",
  `Sessions / first contact: ${(sessions.okPerSec / baseline.okPerSec).toFixed(2)}x ok/s, ` +
  `${(sessions.okPerCpuSecond / baseline.okPerCpuSecond).toFixed(2)}x per CPU-second.`,
  "",
].join("\n");
await Deno.mkdir(out, { recursive: true });
await Deno.writeTextFile(`${out}/sessions.json`, JSON.stringify({ baseline, sessions }, null, 2));
await Deno.writeTextFile(`${out}/sessions.md`, md);
console.log(md);

/**
 * Keeps the benchmark harness from rotting: runs `bench/run.ts --quick` (one 1-second
 * flood against a real daemon and the floor, a small throughput run, 50 pings, idle RSS of
 * the daemon and of a bare listener, a small sessions bench) into a temp dir and checks the result file's shape and
 * that the values are sane.
 * @module
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../_helpers/daemon.ts";
import { runBench } from "./_bench_run.ts";
import type { BenchReport } from "../../bench/run.ts";

Deno.test("bench/run.ts --quick writes sane results", async () => {
  const out = await Deno.makeTempDir({ prefix: "siglatch-bench-smoke-" });
  try {
    const r = await runBench("run.ts", ["--quick", "--out", out], RUN_FLAGS);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(await Deno.readTextFile(`${out}/latest.json`)) as BenchReport;
    assert.ok((await Deno.readTextFile(`${out}/latest.md`)).includes("| scenario |"));
    assert.equal(report.flood.length, 1);
    const f = report.flood[0];
    assert.ok(f.daemon.alive, "daemon died");
    assert.ok(f.daemon.sentPerSec > 0, "nothing sent");
    assert.ok(f.daemon.receivedPerSec > 0, "daemon received nothing");
    assert.ok(f.daemon.cpuPercent > 0 && f.daemon.peakRssMB > 0, "no /proc figures");
    assert.ok(f.daemon.kernelDrops >= 0);
    assert.ok(f.floor && f.floor.receivedPerSec > 0, "floor received nothing");
    assert.ok(f.ratio && Number.isFinite(f.ratio.received));
    assert.ok(f.valid.sent > 0 && f.valid.successRatio > 0, "no valid request succeeded");
    assert.ok(report.throughput[0].ok > 0, "no throughput reply");
    assert.ok(report.unloaded.ok > 0 && report.unloaded.p50Ms > 0);
    assert.ok(
      report.idle && report.idle.daemonRssMB > 0 && report.idle.bareRssMB > 0,
      "no idle RSS",
    );
    assert.ok(
      report.idle.daemonRssMB > report.idle.bareRssMB,
      "daemon idle RSS below a bare listener",
    );
    assert.ok((f.daemon.rssSeriesMB?.length ?? 0) >= 2, "no RSS sampled over the flood");
    assert.ok((f.daemon.startRssMB ?? 0) > 0 && (f.daemon.endRssMB ?? 0) > 0);
    assert.ok((await Deno.readTextFile(`${out}/latest.md`)).includes("## Memory"));
    // sessions_bench.ts (issue 15) ran in the same run: sessions, first contact off and on
    assert.ok(report.sessions, `no sessions figures: ${report.notes["sessions_bench.ts"]}`);
    assert.ok(report.sessions.sessions.ok > 0, "no session command answered");
    assert.ok(report.sessions.ab.off[0].ok > 0 && report.sessions.ab.on[0].ok > 0);
    assert.ok(Number.isFinite(report.sessions.ratios.okPerSec));
    assert.ok(Number.isFinite(report.sessions.abRatios.okPerCpuSecond));
    assert.ok(report.goals.some((g) => g.goal.startsWith("with sessions ≥ 15,000")));
    assert.equal(report.goals.length, 10);
    for (const g of report.goals) assert.equal(typeof g.met, "boolean");
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});

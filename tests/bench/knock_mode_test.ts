/**
 * Keeps `bench/knock_mode_bench.ts` from rotting: a tiny run (root, namespaces) whose JSON
 * has every mode, every trial opened in each (the kernel rules with and without the entry
 * limits and the listener each let a knocked source through), and every flood sent. No figure is judged here (that is the
 * bench's job).
 * @module
 */
import assert from "node:assert/strict";
import { runBench } from "./_bench_run.ts";
import { skipNetns } from "../_helpers/netns.ts";

Deno.test({
  name: "knock_mode_bench: a small run opens every trial in both modes and reports ratios",
  ignore: skipNetns(),
  async fn() {
    const r = await runBench("knock_mode_bench.ts", ["--trials", "4", "--flood", "3000", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    for (const mode of ["kernel", "unlimited", "listener"]) {
      assert.equal(report[mode].opened, 4, `${mode}: ${JSON.stringify(report[mode])}`);
      assert.equal(report[mode].stray.sent, 3000);
      assert.equal(report[mode].cycle.sent, 3000);
      assert.equal(report[mode].spread.sent, 3000);
    }
    assert.equal(report.kernel.stray.stateCpuMs, 0, "no process keeps the kernel's state");
    assert.equal(report.drop.cycle.sent, 3000);
    assert.ok("openP50" in report.ratios && "cycleHostCpu" in report.ratios);
    assert.ok("cycle" in report.ratios.limitedOverUnlimited, JSON.stringify(report.ratios));
  },
});

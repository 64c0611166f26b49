/**
 * Keeps bench/relay_bench.ts from rotting: a tiny run (0.3 s segments, 2 in flight) prints both
 * rows and the ratios, with pings answered on both paths. No figure is judged.
 */
import assert from "node:assert/strict";
import { runBench } from "./_bench_run.ts";

Deno.test("bench/relay_bench.ts: a tiny run prints direct, relayed and the ratios", async () => {
  const r = await runBench("relay_bench.ts", ["0.3", "2"]);
  const out = r.stdout;
  assert.equal(r.code, 0, out + r.stderr);
  const ok = (name: string) => Number(out.match(new RegExp(`${name}.*?\\((\\d+) ok`))?.[1]);
  assert.ok(ok("ping direct") > 0, out);
  assert.ok(ok("through one relay") > 0, out);
  assert.match(out, /relayed \/ direct \(2 in flight, 0\.6 s each\): ok\/s ×[\d.]+, p50 ×[\d.]+/);
});

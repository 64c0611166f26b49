/**
 * What privilege separation costs an exec action: the same `/bin/true` action (as `nobody`)
 * run by name through the local runner (one process) and through the channel to the
 * privileged part (`RemoteRunner` → `PrivilegedOps`: JSON, base64, validation against its
 * config), alternating A-B-B-A in one run. The channel ends are connected in process, so the
 * pipe between two processes is not in the figure; spawning dominates both.
 *
 * Run: `deno run -A bench/privsep_exec_bench.ts [SECONDS] [CONCURRENCY]`
 * @module
 */
import { loadConfig } from "../src/config/load.ts";
import { buildRuntime } from "../src/daemon/runtime.ts";
import { type ActionRunner, localRunner, type RunSpec } from "../src/actions/runner.ts";
import { RpcChannel } from "../src/privsep/channel.ts";
import { PrivilegedOps } from "../src/privsep/privileged.ts";
import { RemoteRunner } from "../src/privsep/remote.ts";
import { makeFixture } from "../tests/_helpers/daemon.ts";

const seconds = Number(Deno.args[0] ?? 3);
const concurrency = Number(Deno.args[1] ?? 8);

const fx = await makeFixture({
  actions: [{ id: 10, name: "true", type: "exec", command: ["/bin/true"], run_as: "nobody" }],
  aliceActions: ["true"],
  top: { execution: { max_concurrent: 64, queue: 1024 } },
});
const loaded = await loadConfig(fx.config);
if (!loaded.ok) throw new Error("config");
const runtime = await buildRuntime(loaded.config);
const ops = await PrivilegedOps.load(fx.config, loaded.config);
const toPrivileged = new TransformStream<Uint8Array, Uint8Array>();
const toNetwork = new TransformStream<Uint8Array, Uint8Array>();
new RpcChannel(toPrivileged.readable, toNetwork.writable, {
  handler: (op, a) => ops.handle(op, a),
});
const network = new RpcChannel(toNetwork.readable, toPrivileged.writable);

const spec: RunSpec = {
  kind: "action",
  actionId: 10,
  userId: 1,
  env: { SIGLATCH_SOURCE_IP: "127.0.0.1", SIGLATCH_SOURCE_PORT: "40000" },
  stdin: new Uint8Array(0),
};
const runners: Record<string, ActionRunner> = {
  "one process (local runner)": localRunner(() => runtime),
  "privilege separation (channel)": new RemoteRunner(network),
};

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function measure(runner: ActionRunner): Promise<{ perSec: number; p50: number }> {
  for (let i = 0; i < 20; i++) await runner.run(spec);
  let runs = 0;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const r = await runner.run(spec);
      if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode} ${r.spawnError ?? ""}`);
      runs++;
    }
  }));
  const perSec = runs / ((performance.now() - t0) / 1000);
  const one: number[] = [];
  for (let i = 0; i < 200; i++) {
    const s = performance.now();
    await runner.run(spec);
    one.push(performance.now() - s);
  }
  one.sort((a, b) => a - b);
  return { perSec, p50: pct(one, 0.5) };
}

const names = Object.keys(runners);
const figures: Record<string, { perSec: number; p50: number }[]> = {};
for (const name of [names[0], names[1], names[1], names[0]]) {
  (figures[name] ??= []).push(await measure(runners[name]));
}
const avg = (name: string) => ({
  perSec: figures[name].reduce((n, f) => n + f.perSec, 0) / figures[name].length,
  p50: figures[name].reduce((n, f) => n + f.p50, 0) / figures[name].length,
});
const base = avg(names[0]);
console.log(`| runner | runs/s (${concurrency} in flight) | ratio | one at a time p50 ms |`);
console.log("| --- | ---: | ---: | ---: |");
for (const name of names) {
  const f = avg(name);
  console.log(
    `| ${name} | ${Math.round(f.perSec)} | ${(f.perSec / base.perSec).toFixed(2)} | ${
      f.p50.toFixed(2)
    } |`,
  );
}
await ops.stop();
await network.close();
await fx.cleanup();
Deno.exit(0);

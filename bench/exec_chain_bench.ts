/**
 * CPU per action start, by chain: what each containment's helper programs cost before the
 * action's own program runs. Every chain runs `/bin/true` as `nobody` with the runner's
 * spawn options (cleared environment, `cwd /`, piped stdio, a 2-byte stdin), CONCURRENCY in
 * flight, and reads this process's own CPU (the spawn calls: utime+stime) and that of its
 * reaped children (the chain: cutime+cstime) from `/proc/self/stat`:
 *
 * - the program alone, as root (the floor: no containment, no id change);
 * - PID namespace as shipped (`launch("pidns")`: `setsid unshare --pid --fork … --setuid`);
 * - the same without `setsid` (the run would share the daemon's session and group);
 * - cgroup v2 as shipped (`launch("cgroup")`: `setsid sh` joins a fresh cgroup, `setpriv`
 *   switches the ids), when a cgroup v2 mount with `cgroup.kill` is found (the unified
 *   hierarchy, or `/sys/fs/cgroup/unified` on a hybrid machine).
 *
 * Rounds alternate the chains (A B C D, D C B A) so drift falls on all. Needs root.
 * Run: `deno run -A bench/exec_chain_bench.ts [RUNS] [CONCURRENCY]`
 * @module
 */
import { launch } from "../src/actions/contain.ts";
import { CHILD_PATH } from "../src/actions/exec.ts";

const runs = Number(Deno.args[0] ?? 600);
const concurrency = Number(Deno.args[1] ?? 8);
const TICK_MS = 10; // USER_HZ 100
const NOBODY = 65534;

if (Deno.uid() !== 0) {
  console.log("exec_chain_bench: needs root (PID namespaces, cgroups, uid switch); skipped");
  Deno.exit(0);
}

function cpu(): { self: number; children: number } {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    self: (Number(f[11]) + Number(f[12])) * TICK_MS,
    children: (Number(f[13]) + Number(f[14])) * TICK_MS,
  };
}

async function cgroupParent(): Promise<string | undefined> {
  for (const root of ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]) {
    try {
      await Deno.stat(`${root}/cgroup.controllers`);
      const dir = `${root}/siglatch-chain-bench-${Deno.pid}`;
      await Deno.mkdir(dir);
      await Deno.stat(`${dir}/cgroup.kill`);
      return dir;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** One start: the command line, its run dir (cgroup) made before and removed after. */
type Chain = () => Promise<void>;

async function start(cmd: string, args: string[]): Promise<void> {
  const child = new Deno.Command(cmd, {
    args,
    env: { PATH: CHILD_PATH },
    clearEnv: true,
    cwd: "/",
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new Uint8Array([1, 2])).catch(() => {});
  await w.close().catch(() => {});
  const [, , status] = await Promise.all([
    new Response(child.stdout).arrayBuffer(),
    new Response(child.stderr).arrayBuffer(),
    child.status,
  ]);
  if (!status.success) throw new Error(`${cmd} ${args.join(" ")}: exit ${status.code}`);
}

const argv = ["/bin/true"];
const shipped = launch("pidns", argv, NOBODY, NOBODY);
const chains: Record<string, Chain> = {
  "program alone, as root (floor)": () => start(argv[0], []),
  "PID namespace as shipped (setsid, unshare)": () => start(shipped.cmd, shipped.args),
  "PID namespace without setsid": () => start(shipped.args[0], shipped.args.slice(1)),
};
const cgParent = await cgroupParent();
let n = 0;
if (cgParent !== undefined) {
  chains["cgroup v2 as shipped (setsid, sh, setpriv)"] = async () => {
    const dir = `${cgParent}/run-${++n}`;
    await Deno.mkdir(dir);
    const how = launch("cgroup", argv, NOBODY, NOBODY, dir);
    try {
      await start(how.cmd, how.args);
    } finally {
      Deno.writeTextFileSync(`${dir}/cgroup.kill`, "1");
      for (let i = 0; i < 100; i++) {
        try {
          await Deno.remove(dir);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 2));
        }
      }
    }
  };
}

async function measure(chain: Chain): Promise<{ perSec: number; self: number; spawned: number }> {
  for (let i = 0; i < 20; i++) await chain();
  const a = cpu();
  const t0 = performance.now();
  let left = runs;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (left-- > 0) await chain();
  }));
  const ms = performance.now() - t0;
  const b = cpu();
  return {
    perSec: runs / (ms / 1000),
    self: (b.self - a.self) / runs,
    spawned: (b.children - a.children) / runs,
  };
}

const names = Object.keys(chains);
const got = new Map<string, { perSec: number; self: number; spawned: number }[]>();
try {
  for (const name of [...names, ...names.toReversed()]) {
    const list = got.get(name) ?? [];
    list.push(await measure(chains[name]));
    got.set(name, list);
  }
} finally {
  if (cgParent !== undefined) await Deno.remove(cgParent).catch(() => {});
}
console.log(
  `| chain (/bin/true as nobody, ${concurrency} in flight) | starts/s | CPU ms per start: runner | spawned | total |`,
);
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const name of names) {
  const l = got.get(name)!;
  const avg = (k: "perSec" | "self" | "spawned") => l.reduce((s, x) => s + x[k], 0) / l.length;
  console.log(
    `| ${name} | ${avg("perSec").toFixed(0)} | ${avg("self").toFixed(2)} | ${
      avg("spawned").toFixed(2)
    } | ${(avg("self") + avg("spawned")).toFixed(2)} |`,
  );
}
if (cgParent === undefined) {
  console.log("(no cgroup v2 mount with cgroup.kill: cgroup chain not measured)");
}

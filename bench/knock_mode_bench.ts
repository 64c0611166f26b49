/**
 * Kernel knocks against a userspace knock listener, in the same run (issue 17: "benchmark
 * and explain the choice"). Root, `ip` and `nft` needed; everything happens in a pair of
 * network namespaces (`tests/_helpers/netns.ts`), bounded to well under 60 s:
 *
 *   deno run -A bench/knock_mode_bench.ts [--trials 40] [--flood 60000] [--json]
 *
 * Both modes guard the same UDP echo (`knock_mode/echo.ts`) on the server veth with the
 * same finished set (`inet siglatch_knock g0_ok_4`) and a static 3-port UDP sequence:
 *
 * - kernel: the rules siglatchd installs (`src/nft/knock.ts`, `knockRulesScript`): stage
 *   sets chained in the input hook, knocks dropped, no process involved, stage-1 entries
 *   rate-limited per source and per guard;
 * - unlimited: the same rules without the two entry limits (what siglatchd installed before
 *   them), so the limits' effect is measured in the same run;
 * - listener: knockd's model (`knock_mode/listener.ts`): sockets on the knock ports, the
 *   stage table in JS, one `nft add element` per completed sequence.
 *
 * Figures: (1) open latency — from the last knock leaving the client to the sending of the
 * first probe that the guarded port echoed, over `--trials` fresh source addresses; (2) two
 * floods of `--flood` wrong knocks from 8 sources: "stray" (the last port only: the source
 * never enters a stage, what a port scan does) and "cycle" (per source the first port, the
 * first port again, the last port: every third knock adds a stage entry, every third
 * deletes it), and "spread" (the cycle from 128 sources, as a flood of forged sources
 * would: the per-source limit hardly applies, the guard's limit does). For each: the CPU time of the process that keeps the knock state (the
 * listener; none for the kernel) and the host's busy CPU (all cores, /proc/stat, which
 * holds the sender's cost too, and the kernel's softirq work), also for a baseline that
 * only drops the knock ports (`drop`): the extra host CPU per knock over that baseline is
 * what the knock state costs. Noisy on a shared machine: run it twice.
 * @module
 */
import { knockRulesScript } from "../src/nft/knock.ts";
import { type NetnsPair, skipNetns, withNetnsPair } from "../tests/_helpers/netns.ts";

const SEQ = [7103, 7101, 7102];
/** Sources of the "spread" flood. */
const SPREAD = 128;
const PORT = 7200;
const DIR = new URL("./knock_mode/", import.meta.url).pathname;

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** Starts `deno run -A FILE ARGS` in namespace `ns` and waits for its `ready` line. */
async function startIn(ns: string, file: string, args: string[]): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns, Deno.execPath(), "run", "-A", `${DIR}${file}`, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 15_000;
  while (!text.includes("ready") && Date.now() < deadline) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
  }
  if (!text.includes("ready")) throw new Error(`${file} did not start`);
  // Keep draining stdout so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return child;
}

async function stopChild(c: Deno.ChildProcess): Promise<void> {
  try {
    c.kill("SIGKILL");
  } catch {
    // gone
  }
  await c.status;
}

/** utime + stime of `pid`, ms (clock ticks of 10 ms). */
async function processCpuMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** Busy CPU of the whole host (user, nice, system, irq, softirq) and softirq alone, ms. */
async function hostCpuMs(): Promise<{ busy: number; softirq: number }> {
  const line = (await Deno.readTextFile("/proc/stat")).split("\n")[0].split(/\s+/).slice(1);
  const [user, nice, system, , , irq, softirq] = line.map(Number);
  return { busy: (user + nice + system + irq + softirq) * 10, softirq: softirq * 10 };
}

async function client(pair: NetnsPair, arg: Record<string, unknown>): Promise<unknown> {
  const r = await pair.run(
    pair.client,
    [Deno.execPath(), "run", "-A", `${DIR}client.ts`, JSON.stringify(arg)],
    { timeoutMs: 40_000 },
  );
  if (r.code !== 0) throw new Error(`client: ${r.code} ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

/** The finished set and the guard of the echo port, without any knock rule (listener mode). */
function listenerRules(): string {
  const t = "inet siglatch_knock";
  return [
    `add table ${t}`,
    `add set ${t} g0_ok_4 { type ipv4_addr; flags dynamic, timeout; timeout 30s; size 65536; }`,
    `add chain ${t} input { type filter hook input priority -20; policy accept; }`,
    `add rule ${t} input udp dport ${PORT} ip saddr @g0_ok_4 accept`,
    `add rule ${t} input udp dport ${PORT} drop`,
  ].join("\n") + "\n";
}

/** One flood's figures. */
interface FloodResult {
  sent: number;
  seconds: number;
  /** CPU of the process that keeps the knock state, ms (0: none). */
  stateCpuMs: number;
  /** Busy CPU of the host during the flood, ms. */
  hostCpuMs: number;
  /** Softirq CPU of the host during the flood, ms (where the input hook's rules run). */
  softirqMs: number;
}

/** One mode's figures. */
interface ModeResult {
  openP50Ms: number;
  openP99Ms: number;
  opened: number;
  failed: number;
  stray: FloodResult;
  cycle: FloodResult;
  spread: FloodResult;
}

type Mode = "kernel" | "unlimited" | "listener";

/** The knock rules siglatchd installs; `unlimited` without the stage-1 entry limits. */
function kernelRules(unlimited: boolean): string {
  const script = knockRulesScript([{
    id: "g0",
    serverPorts: [PORT],
    proto: "udp",
    space: { ports: SEQ },
    sequences: [{ id: "q", ports: SEQ }],
    windowMs: 10_000,
    openMs: 30_000,
  }]);
  if (!unlimited) return script;
  return script.split("\n").filter((l) => !/limit (rate over|name)/.test(l)).join("\n");
}

/** Installs the mode's rules in the server namespace. */
async function install(pair: NetnsPair, mode: "drop" | Mode): Promise<void> {
  await pair.nft(pair.server, "flush ruleset\n");
  const t = "inet siglatch_knock";
  const script = mode === "kernel" || mode === "unlimited"
    ? kernelRules(mode === "unlimited")
    : mode === "listener"
    ? listenerRules()
    : `add table ${t}\nadd chain ${t} input { type filter hook input priority -20; ` +
      `policy accept; }\nadd rule ${t} input udp dport { ${SEQ.join(", ")} } drop\n`;
  await pair.nft(pair.server, script);
}

async function floodOnce(
  pair: NetnsPair,
  listener: Deno.ChildProcess | undefined,
  sources: string[],
  count: number,
  ports: number[],
): Promise<FloodResult> {
  const cpu0 = listener ? await processCpuMs(listener.pid) : 0;
  const host0 = await hostCpuMs();
  const f = await client(pair, {
    mode: "flood",
    server: pair.serverIp,
    seq: SEQ,
    sources,
    count,
    ports,
  }) as { sent: number; seconds: number };
  // The listener may still be reading its socket buffers: let it finish.
  await new Promise((r) => setTimeout(r, 300));
  const host1 = await hostCpuMs();
  const cpu1 = listener ? await processCpuMs(listener.pid) : 0;
  return {
    sent: f.sent,
    seconds: f.seconds,
    stateCpuMs: cpu1 - cpu0,
    hostCpuMs: host1.busy - host0.busy,
    softirqMs: host1.softirq - host0.softirq,
  };
}

const STRAY = [SEQ[2]];
const CYCLE = [SEQ[0], SEQ[0], SEQ[2]];

async function runMode(
  pair: NetnsPair,
  mode: Mode,
  sources: string[],
  floodSources: string[],
  spreadSources: string[],
  flood: number,
): Promise<ModeResult> {
  await install(pair, mode);
  const listener = mode === "listener"
    ? await startIn(pair.server, "listener.ts", [pair.serverIp, SEQ.join(","), "10000"])
    : undefined;
  try {
    const lat = await client(pair, {
      mode: "latency",
      server: pair.serverIp,
      port: PORT,
      seq: SEQ,
      sources,
    }) as { ms: number[]; failed: number };
    return {
      openP50Ms: quantile(lat.ms, 0.5),
      openP99Ms: quantile(lat.ms, 0.99),
      opened: lat.ms.length,
      failed: lat.failed,
      stray: await floodOnce(pair, listener, floodSources, flood, STRAY),
      cycle: await floodOnce(pair, listener, floodSources, flood, CYCLE),
      spread: await floodOnce(pair, listener, spreadSources, flood, CYCLE),
    };
  } finally {
    if (listener) await stopChild(listener);
  }
}

if (import.meta.main) {
  if (skipNetns()) Deno.exit(0);
  const trials = flag("trials", 40);
  const flood = flag("flood", 60_000);
  const started = performance.now();
  const out = await withNetnsPair(async (pair) => {
    const base = pair.clientIp.replace(/\.2$/, "");
    // Fresh addresses per mode and trial: a source that knocked once stays open for 30 s.
    const addrs = Array.from({ length: 3 * trials + 24 }, (_, i) => `${base}.${10 + i}`);
    await pair.addClientAddresses(addrs.map((a) => `${a}/24`));
    // The spread flood's sources: 10.214.k.0/24 on the same link (fresh per mode: no source
    // starts with tokens left from an earlier mode's meter), routed on-link by the server.
    const spreadOf = (k: number) =>
      Array.from({ length: SPREAD }, (_, i) => `10.214.${k}.${1 + i}`);
    await pair.addClientAddresses([0, 1, 2, 3].flatMap(spreadOf).map((a) => `${a}/16`));
    const route = await pair.run(pair.server, [
      "ip",
      "route",
      "add",
      "10.214.0.0/16",
      "dev",
      pair.serverDev,
    ]);
    if (route.code !== 0) throw new Error(`ip route: ${route.stderr}`);
    const echo = await startIn(pair.server, "echo.ts", [pair.serverIp, String(PORT)]);
    try {
      const floodFrom = (k: number) => addrs.slice(3 * trials + 8 * k, 3 * trials + 8 * k + 8);
      // Warm-up of the client (JIT, first sockets) against an open port.
      await client(pair, {
        mode: "flood",
        server: pair.serverIp,
        seq: SEQ,
        sources: floodFrom(0),
        count: 2000,
      });
      await install(pair, "drop");
      const drop = {
        stray: await floodOnce(pair, undefined, floodFrom(0), flood, STRAY),
        cycle: await floodOnce(pair, undefined, floodFrom(0), flood, CYCLE),
        spread: await floodOnce(pair, undefined, spreadOf(0), flood, CYCLE),
      };
      const modes = ["unlimited", "kernel", "listener"] as const;
      const res: Partial<Record<Mode, ModeResult>> = {};
      for (const [k, mode] of modes.entries()) {
        res[mode] = await runMode(
          pair,
          mode,
          addrs.slice(k * trials, (k + 1) * trials),
          floodFrom(k),
          spreadOf(k + 1),
          flood,
        );
      }
      return { drop, ...(res as Record<Mode, ModeResult>) };
    } finally {
      await stopChild(echo);
    }
  });
  const r = (a: number, b: number) => b > 0 ? a / b : NaN;
  /** Extra host CPU per knock over the drop baseline, µs. */
  const extra = (m: FloodResult, base: FloodResult) =>
    Math.max(0, (m.hostCpuMs - base.hostCpuMs) * 1000 / m.sent);
  const modes = ["unlimited", "kernel", "listener"] as const;
  const floods = ["stray", "cycle", "spread"] as const;
  const perKnock = Object.fromEntries(modes.map((m) => [
    m,
    Object.fromEntries(floods.map((fl) => [fl, extra(out[m][fl], out.drop[fl])])),
  ])) as Record<Mode, Record<(typeof floods)[number], number>>;
  const report = {
    trials,
    flood,
    seconds: (performance.now() - started) / 1000,
    ...out,
    extraHostUsPerKnock: perKnock,
    ratios: {
      openP50: r(out.listener.openP50Ms, out.kernel.openP50Ms),
      strayHostCpu: r(out.listener.stray.hostCpuMs, out.kernel.stray.hostCpuMs),
      cycleHostCpu: r(out.listener.cycle.hostCpuMs, out.kernel.cycle.hostCpuMs),
      /** Extra host CPU per knock, limited kernel rules over unlimited ones (after/before). */
      limitedOverUnlimited: Object.fromEntries(
        floods.map((fl) => [fl, r(perKnock.kernel[fl], perKnock.unlimited[fl])]),
      ),
    },
  };
  if (Deno.args.includes("--json")) console.log(JSON.stringify(report));
  else {
    const f = (x: number, d = 2) => Number.isFinite(x) ? x.toFixed(d) : "–";
    const fl = (x: FloodResult) =>
      `${x.sent} in ${f(x.seconds)} s, state CPU ${x.stateCpuMs} ms, host ${x.hostCpuMs} ms ` +
      `(softirq ${x.softirqMs})`;
    console.log(
      `drop      stray: ${fl(out.drop.stray)}; cycle: ${fl(out.drop.cycle)}; ` +
        `spread: ${fl(out.drop.spread)}`,
    );
    for (const name of modes) {
      const m = out[name];
      console.log(
        `${name.padEnd(9)} open p50 ${f(m.openP50Ms, 3)} ms, p99 ${f(m.openP99Ms, 3)} ms ` +
          `(${m.opened}/${m.opened + m.failed}); ` +
          floods.map((k) => `${k}: ${fl(m[k])} (+${f(perKnock[name][k], 1)} µs/knock)`)
            .join("; "),
      );
    }
    const lim = report.ratios.limitedOverUnlimited;
    console.log(
      `kernel limited/unlimited, extra host CPU per knock: stray ${f(lim.stray)}×, ` +
        `cycle ${f(lim.cycle)}×, spread ${f(lim.spread)}×`,
    );
    console.log(
      `listener/kernel: open p50 ${f(report.ratios.openP50, 0)}×; host CPU, stray flood ` +
        `${f(report.ratios.strayHostCpu)}×, cycle flood ${f(report.ratios.cycleHostCpu)}× ` +
        `[${f(report.seconds, 1)} s]`,
    );
  }
}

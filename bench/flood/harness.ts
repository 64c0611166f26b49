/**
 * The flood benchmark: a real daemon (fresh per scenario, so peak RSS and bans are per
 * scenario) under garbage floods from separate sender processes, with a steady valid
 * prober alongside; the same floods against a bare counting receiver (the floor); valid
 * throughput from pre-sealed requests; and unloaded sequential ping latency.
 * @module
 */
import { makeFixture, ROOT, RUN_FLAGS } from "../../tests/_helpers/daemon.ts";
import { V8_FLAGS } from "../../tests/_helpers/flags.ts";
import { AdminClient } from "../../src/client/admin/client.ts";
import { readUdpDrops } from "../udpstats.ts";
import { type ProcSample, sampleProc, sleep } from "./common.ts";
import { writeTarget } from "./target.ts";
import type { PingReport } from "./pinger.ts";
import type { BlastReport } from "./blaster.ts";

const HERE = new URL(".", import.meta.url).pathname;
const CHILD_FLAGS = ["run", "--allow-read", "--allow-net", "--allow-env", "--allow-ffi"];

/** One garbage flood. */
export interface FloodScenario {
  /** Short name, unique. */
  name: string;
  /** Datagram size, bytes. */
  size: number;
  /** Offered datagrams/s in total (0 = as fast as the senders go). */
  rate: number;
  /**
   * `many` (127.0.0.2–254), `one` (127.0.0.2), `spoofed` (hping3 --rand-source) or
   * `spoofed-mac1` (mac1-valid datagrams from random 10/8 sources, `spoofed.ts`: netns).
   */
  sources: "many" | "one" | "spoofed" | "spoofed-mac1";
  /** `servers[].challenge_under_load` of the daemon (default: the daemon's default, on). */
  cookies?: boolean;
  /** Seconds. */
  seconds: number;
}

/** Figures of one target (daemon or floor receiver) under one flood. */
export interface TargetFigures {
  /** Datagrams the senders actually sent, per second. */
  sentPerSec: number;
  /** Datagrams the process read from its socket, per second. */
  receivedPerSec: number;
  /** CPU use of the process over the flood, % of one core. */
  cpuPercent: number;
  /** Peak RSS (VmHWM) at the end, MB. */
  peakRssMB: number;
  /** RSS (VmRSS) just before the flood, MB. */
  startRssMB?: number;
  /** RSS (VmRSS) at the end of the flood, MB. */
  endRssMB?: number;
  /** RSS (VmRSS) sampled every 250 ms during the flood, MB (flat = no growth over time). */
  rssSeriesMB?: number[];
  /** Datagrams the kernel dropped on the socket (receive buffer full) during the flood. */
  kernelDrops: number;
  /** kernelDrops / sent. */
  kernelDropRatio: number;
  /** The process was still alive at the end. */
  alive: boolean;
}

/** One flood scenario's result. */
export interface FloodResult {
  /** The scenario. */
  scenario: FloodScenario;
  /** Offered rate (what was asked; 0 = max). */
  offeredPerSec: number;
  /** The daemon's figures. */
  daemon: TargetFigures;
  /** The valid prober's figures (daemon only). */
  valid: PingReport;
  /** The floor receiver's figures under the same senders. */
  floor?: TargetFigures;
  /** A naive floor (fresh buffer per `receive()`, system socket buffer), if run. */
  floorNaive?: TargetFigures;
  /** Daemon figure / floor figure. */
  ratio?: { received: number; cpu: number; peakRss: number; drops: number | null };
  /** Daemon counters after the flood (subset). */
  counters: Record<string, number>;
}

/** Valid throughput result. */
export interface ThroughputResult {
  /** Name. */
  name: string;
  /** Per-source and reply limits raised (the pipeline is measured, not the limiter). */
  limits: string;
  /** Lanes (requests in flight). */
  lanes: number;
  /** Requests answered ok per second. */
  okPerSec: number;
  /** Requests sent. */
  sent: number;
  /** Requests answered ok. */
  ok: number;
  /** Daemon CPU, % of one core. */
  cpuPercent: number;
  /** ok per daemon CPU-second: the rate one full core would sustain. */
  okPerCpuSecond: number;
  /** Reply latency p50, ms. */
  p50Ms: number;
  /** Reply latency p99, ms. */
  p99Ms: number;
  /** Peak RSS, MB. */
  peakRssMB: number;
  /** Client seals/s while preparing (not timed). */
  sealPerSecond: number;
}

/** A spawned child with the ready/go/result protocol. */
export interface ChildRun {
  proc: Deno.ChildProcess;
  lines: AsyncIterator<string>;
  go(): Promise<void>;
  result<T>(): Promise<T>;
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) yield buf;
}

/** Spawns a child of the ready/go/result protocol (stdout lines, stdin go line). */
export function spawnChild(cmd: string, args: string[]): ChildRun {
  const proc = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = readLines(proc.stdout);
  const writer = proc.stdin.getWriter();
  return {
    proc,
    lines,
    go: () => writer.write(new TextEncoder().encode("go\n")),
    async result<T>(): Promise<T> {
      const n = await lines.next();
      await writer.close().catch(() => {});
      await proc.status;
      if (n.done) throw new Error(`${args.join(" ")}: no result`);
      return JSON.parse(n.value) as T;
    },
  };
}

/** The child's next stdout line; throws when it exited first. */
export async function expectLine(c: ChildRun, what: string): Promise<string> {
  const n = await c.lines.next();
  if (n.done) throw new Error(`child exited before ${what}`);
  return n.value;
}

function denoChild(script: string, args: string[]): ChildRun {
  return spawnChild(Deno.execPath(), [...CHILD_FLAGS, `${HERE}${script}`, ...args]);
}

/** A daemon subprocess whose log goes to a file after `ready`. */
export interface BenchDaemon {
  pid: number;
  port: number;
  dir: string;
  proc: Deno.ChildProcess;
  target: string;
  counters(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Where and how {@linkcode startBenchDaemon} runs the daemon (default: host, 127.0.0.1). */
export interface BenchDaemonPlace {
  /** Network namespace to run it in (`ip netns exec`). */
  netns?: string;
  /** Its address there (listen and target host); the port stays the fixture's. */
  host?: string;
  /** `servers[].challenge_under_load` (default: the daemon's default). */
  cookies?: boolean;
  /** `false`: `limits.sessions.max: 0`, sessions off (issue 15's first-contact A-B). */
  sessions?: boolean;
}

/** Starts a bench daemon (fixture config, default drop-log rate) and waits for `ready`. */
export async function startBenchDaemon(
  raisedLimits: boolean,
  recvBuffer?: number,
  place: BenchDaemonPlace = {},
): Promise<BenchDaemon> {
  const server: Record<string, unknown> = recvBuffer !== undefined
    ? { limits: { recv_buffer: recvBuffer } }
    : {};
  if (place.cookies !== undefined) server.challenge_under_load = place.cookies;
  const raised = raisedLimits
    ? {
      limits: {
        reply_rate: 1_000_000,
        sessions: place.sessions === false ? { max: 0 } : { per_user: 10_000 },
      },
      rate_limit: { per_source_rate: 1_000_000, per_source_burst: 1_000_000 },
    }
    : {};
  // Default drop-log rate (the test fixture raises it to 1,000/s).
  const fx = await makeFixture({
    server,
    // One process: the bench measures the datagram path, which privilege separation does
    // not change, and reads the daemon's CPU and memory from its pid.
    top: {
      ...raised,
      logging: { level: "info", format: "json", drop_log_rate: 10 },
      privsep: { enabled: false },
    },
  });
  if (place.host) {
    // The fixture picked a free port on the host's loopback; in a fresh namespace it is free too.
    const text = await Deno.readTextFile(fx.config);
    await Deno.writeTextFile(
      fx.config,
      text.replace(`127.0.0.1:${fx.port}`, `${place.host}:${fx.port}`),
    );
  }
  // SIGLATCH_BENCH_CPU_PROF=DIR writes a V8 CPU profile of every daemon into DIR.
  const prof = Deno.env.get("SIGLATCH_BENCH_CPU_PROF");
  const profFlags = prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : [];
  // SIGLATCH_BENCH_V8_FLAGS=... passes V8 flags to every daemon (GC experiments).
  const v8 = Deno.env.get("SIGLATCH_BENCH_V8_FLAGS");
  if (v8) profFlags.push(`--v8-flags=${v8}`);
  const argv = [...RUN_FLAGS, ...profFlags, `${ROOT}/main.ts`, "serve", "--config", fx.config];
  // `ip netns exec` execs the program: the child's pid is the daemon's.
  const proc = new Deno.Command(place.netns ? "ip" : Deno.execPath(), {
    args: place.netns ? ["netns", "exec", place.netns, Deno.execPath(), ...argv] : argv,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = proc.stderr.getReader();
  const dec = new TextDecoder();
  let head = "";
  const deadline = Date.now() + 30_000;
  while (!head.includes("siglatchd ready")) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) throw new Error(`daemon did not start:\n${head}`);
    head += dec.decode(value, { stream: true });
  }
  reader.releaseLock();
  // The rest of the log goes to a file (the daemon must never block on a full pipe).
  const log = await Deno.open(`${fx.dir}/daemon.log`, { write: true, create: true });
  const piping = proc.stderr.pipeTo(log.writable).catch(() => {});
  const target = `${fx.dir}/target.json`;
  await writeTarget(target, {
    port: fx.port,
    host: place.host,
    serverPublic: fx.serverPublic,
    userId: 1,
    hmacKey: fx.aliceKey,
    actionId: 1,
  });
  return {
    pid: proc.pid,
    port: fx.port,
    dir: fx.dir,
    proc,
    target,
    counters: () => daemonCounters(`${fx.dir}/run/admin.sock`),
    async stop() {
      try {
        proc.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          proc.kill("SIGKILL");
        } catch {
          // gone
        }
      }, 10_000);
      await proc.status;
      clearTimeout(timer);
      await piping;
      await fx.cleanup();
    },
  };
}

/** The daemon's counters through its admin socket (`status`). */
export async function daemonCounters(socket: string): Promise<Record<string, number>> {
  const c = await AdminClient.connect(socket);
  try {
    const res = await c.request("status", {}, 10_000) as unknown as Record<string, unknown>;
    const body = (res.result ?? res) as Record<string, unknown>;
    return (body.counters ?? {}) as Record<string, number>;
  } finally {
    c.close?.();
  }
}

const MB = 1048576;

/** Loopback source addresses of the many-source floods. */
const MANY = "127.0.0.2-127.0.0.254";

/** Splits `127.0.0.2-127.0.0.254` over `n` sender processes (disjoint address sets). */
function splitSources(n: number): string[] {
  const out: string[][] = Array.from({ length: n }, () => []);
  for (let i = 2; i <= 254; i++) out[i % n].push(`127.0.0.${i}`);
  return out.map((a) => a.join(","));
}

interface Senders {
  start(): Promise<void>;
  finish(): Promise<{ sent: number; seconds: number }>;
}

/** Starts the garbage senders of a scenario against `port` (ready, not yet going). */
async function garbageSenders(s: FloodScenario, port: number): Promise<Senders> {
  if (s.sources === "spoofed") {
    // hping3 (raw socket, random source address per packet), bounded by killing it.
    let proc: Deno.ChildProcess | undefined;
    let t0 = 0;
    return {
      start() {
        proc = new Deno.Command("hping3", {
          args: [
            "--udp",
            "-p",
            String(port),
            "--rand-source",
            "-d",
            String(s.size - 0),
            "--flood",
            "127.0.0.1",
          ],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        t0 = performance.now();
        return Promise.resolve();
      },
      async finish() {
        await sleep(s.seconds * 1000 - (performance.now() - t0));
        proc!.kill("SIGINT");
        const out = await proc!.output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        const m = text.match(/(\d+) packets transmitted/);
        return { sent: m ? Number(m[1]) : NaN, seconds: (performance.now() - t0) / 1000 };
      },
    };
  }
  const procs = s.rate === 0 || s.rate > 60_000 ? 2 : 1;
  const sourceSets = s.sources === "one" ? Array(procs).fill("127.0.0.2") : splitSources(procs);
  const children = sourceSets.map((sources) =>
    denoChild("garbage.ts", [
      "--port",
      String(port),
      "--rate",
      String(s.rate / procs),
      "--seconds",
      String(s.seconds),
      "--size",
      String(s.size),
      "--sources",
      sources,
    ])
  );
  await Promise.all(children.map((c) => expectLine(c, "ready")));
  return {
    start: async () => {
      await Promise.all(children.map((c) => c.go()));
    },
    async finish() {
      const rs = await Promise.all(
        children.map((c) => c.result<{ sent: number; seconds: number }>()),
      );
      return {
        sent: rs.reduce((a, r) => a + r.sent, 0),
        seconds: Math.max(...rs.map((r) => r.seconds)),
      };
    },
  };
}

/** Samples a process every 250 ms (keeps the last sample and the RSS series; detects exit). */
export function watch(
  pid: number,
): { stop(): Promise<ProcSample | undefined>; alive(): boolean; rss: number[] } {
  let last: ProcSample | undefined;
  let alive = true;
  let stopped = false;
  const rss: number[] = [];
  const loop = (async () => {
    while (!stopped) {
      const s = await sampleProc(pid);
      if (s) {
        last = s;
        rss.push(s.rssBytes);
      } else alive = false;
      await sleep(250);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const s = await sampleProc(pid);
      if (s) {
        last = s;
        rss.push(s.rssBytes);
      } else alive = false;
      return last;
    },
    alive: () => alive,
    rss,
  };
}

/** One target's figures from the senders' count, its own count and two /proc samples. */
export function figures(
  sent: { sent: number; seconds: number },
  received: number,
  before: ProcSample,
  after: ProcSample | undefined,
  drops: number,
  alive: boolean,
  rss: number[],
): TargetFigures {
  const wall = after ? (after.at - before.at) / 1000 : sent.seconds;
  return {
    sentPerSec: sent.sent / sent.seconds,
    receivedPerSec: received / sent.seconds,
    cpuPercent: after ? (100 * (after.cpuSeconds - before.cpuSeconds)) / wall : NaN,
    peakRssMB: after ? after.peakRssBytes / MB : NaN,
    startRssMB: before.rssBytes / MB,
    endRssMB: after ? after.rssBytes / MB : NaN,
    rssSeriesMB: rss.map((b) => Math.round((10 * b) / MB) / 10),
    kernelDrops: drops,
    kernelDropRatio: sent.sent > 0 ? drops / sent.sent : 0,
    alive,
  };
}

/** Runs one flood against a fresh daemon, with the valid prober alongside. */
export async function floodDaemon(
  s: FloodScenario,
  recvBuffer?: number,
): Promise<Omit<FloodResult, "floor" | "ratio">> {
  const d = await startBenchDaemon(false, recvBuffer);
  try {
    const senders = await garbageSenders(s, d.port);
    const pinger = denoChild("pinger.ts", [
      "--target",
      d.target,
      "--rate",
      "20",
      "--seconds",
      String(s.seconds),
      "--retries",
      "3",
      "--timeout",
      "250",
    ]);
    await expectLine(pinger, "ready");
    const drops0 = await readUdpDrops(d.port);
    const w = watch(d.pid);
    const before = (await sampleProc(d.pid))!;
    await Promise.all([senders.start(), pinger.go()]);
    const sent = await senders.finish();
    const after = await w.stop();
    const drops = (await readUdpDrops(d.port)) - drops0;
    const valid = await pinger.result<PingReport>();
    const alive = w.alive();
    const counters = alive ? await d.counters().catch(() => ({})) : {};
    const received = (counters as Record<string, number>).received ?? NaN;
    return {
      scenario: s,
      offeredPerSec: s.rate,
      daemon: figures(sent, received, before, after, drops, alive, w.rss),
      valid,
      counters: pick(counters as Record<string, number>),
    };
  } finally {
    await d.stop();
  }
}

const PICKED = new Set([
  "received",
  "accepted",
  "replies",
  "cookie_gate",
  "cookie_replies",
  "cookie_retry_replies",
  "cookie_budget_spent",
]);

/** The daemon counters a flood result keeps. */
export function pick(c: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) {
    if (PICKED.has(k) || k.startsWith("drop")) out[k] = v;
  }
  return out;
}

/** The daemon's socket buffer in every bench scenario: `limits.recv_buffer`'s default. */
export const BENCH_RECV_BUFFER = 4 * 1024 * 1024;

/**
 * Runs one flood against the bare counting receiver (the floor): buffers reused and the
 * socket sized as the daemon does, or with `naive` as a plain `receive()` loop would.
 */
export async function floodFloor(s: FloodScenario, naive = false): Promise<TargetFigures> {
  const rx = denoChild("floor_receiver.ts", [
    "--loops",
    "4",
    ...(naive ? ["--alloc"] : ["--recv-buffer", String(BENCH_RECV_BUFFER)]),
  ]);
  const { port } = JSON.parse(await expectLine(rx, "port")) as { port: number };
  try {
    const senders = await garbageSenders(s, port);
    const drops0 = await readUdpDrops(port);
    const w = watch(rx.proc.pid);
    const before = (await sampleProc(rx.proc.pid))!;
    await senders.start();
    const sent = await senders.finish();
    const after = await w.stop();
    const drops = (await readUdpDrops(port)) - drops0;
    await rx.go();
    const { received } = JSON.parse(await expectLine(rx, "count")) as { received: number };
    return figures(sent, received, before, after, drops, w.alive(), w.rss);
  } finally {
    await rx.result<unknown>().catch(() => {});
  }
}

/** Daemon figure / floor figure (null when the floor is 0). */
export function ratios(d: TargetFigures, f: TargetFigures): FloodResult["ratio"] {
  return {
    received: d.receivedPerSec / f.receivedPerSec,
    cpu: d.cpuPercent / f.cpuPercent,
    peakRss: d.peakRssMB / f.peakRssMB,
    drops: f.kernelDrops > 0 ? d.kernelDrops / f.kernelDrops : null,
  };
}

/**
 * Runs `procs` copies of `script` against `d` (each given `args` and its own `lanes` source
 * addresses 127.0.(2+i).1–`lanes`), all started at once after every one is ready, and sums
 * their reports with the daemon's CPU and peak RSS over the run.
 */
async function blastAll(
  d: BenchDaemon,
  script: string,
  opts: { procs: number; lanes: number },
  args: string[],
): Promise<Omit<ThroughputResult, "name" | "limits">> {
  const children = Array.from({ length: opts.procs }, (_, i) =>
    denoChild(script, [
      "--target",
      d.target,
      ...args,
      "--sources",
      `127.0.${2 + i}.1-127.0.${2 + i}.${opts.lanes}`,
    ]));
  await Promise.all(children.map((c) => expectLine(c, "ready")));
  const w = watch(d.pid);
  const before = (await sampleProc(d.pid))!;
  await Promise.all(children.map((c) => c.go()));
  const rs = await Promise.all(children.map((c) => c.result<BlastReport>()));
  const after = await w.stop();
  const seconds = Math.max(...rs.map((r) => r.seconds));
  const ok = rs.reduce((a, r) => a + r.ok, 0);
  const cpuSeconds = after ? after.cpuSeconds - before.cpuSeconds : NaN;
  const wall = after ? (after.at - before.at) / 1000 : seconds;
  const worst = rs.reduce((a, r) => (r.p99Ms > a.p99Ms ? r : a), rs[0]);
  return {
    lanes: opts.procs * opts.lanes,
    okPerSec: ok / seconds,
    sent: rs.reduce((a, r) => a + r.sent, 0),
    ok,
    cpuPercent: (100 * cpuSeconds) / wall,
    okPerCpuSecond: ok / cpuSeconds,
    p50Ms: rs[0].p50Ms,
    p99Ms: worst.p99Ms,
    peakRssMB: after ? after.peakRssBytes / MB : NaN,
    sealPerSecond: rs.reduce((a, r) => a + r.sealPerSecond, 0),
  };
}

/** Valid throughput: `procs` blasters × `lanes` sockets, raised limits, fresh daemon. */
export async function throughput(
  opts: { procs: number; lanes: number; count: number; seconds: number; sessions?: boolean },
): Promise<ThroughputResult> {
  const d = await startBenchDaemon(true, undefined, { sessions: opts.sessions });
  try {
    const figures = await blastAll(d, "blaster.ts", opts, [
      "--count",
      String(opts.count),
      "--seconds",
      String(opts.seconds),
    ]);
    return {
      name: `${opts.procs}x${opts.lanes} lanes, one user${
        opts.sessions === false ? ", sessions off" : ""
      }`,
      limits: "per_source_rate and reply_rate raised to 1e6",
      ...figures,
    };
  } finally {
    await d.stop();
  }
}

/**
 * Valid throughput with sessions (issue 15): `procs` senders × `lanes` sessions, opened
 * before timing, each a closed loop of builtin pings as session commands; fresh daemon.
 */
export async function sessionThroughput(
  opts: { procs: number; lanes: number; seconds: number },
): Promise<ThroughputResult> {
  const d = await startBenchDaemon(true);
  try {
    const figures = await blastAll(d, "session_blaster.ts", opts, [
      "--seconds",
      String(opts.seconds),
    ]);
    return {
      name: `sessions ${opts.procs}x${opts.lanes} lanes, one user`,
      limits: "per_source_rate and reply_rate raised to 1e6, sessions.per_user 10,000",
      ...figures,
    };
  } finally {
    await d.stop();
  }
}

/** Unloaded latency: `n` sequential pings (rotating over 250 source addresses). */
export async function unloadedPing(n: number): Promise<PingReport> {
  const d = await startBenchDaemon(false);
  try {
    const p = denoChild("pinger.ts", [
      "--target",
      d.target,
      "--sequential",
      String(n),
      "--retries",
      "3",
      "--timeout",
      "250",
      "--sources",
      "127.0.4.1-127.0.4.250",
    ]);
    await expectLine(p, "ready");
    await p.go();
    return await p.result<PingReport>();
  } finally {
    await d.stop();
  }
}

/** Idle memory of the daemon against the bare listener baseline. */
export interface IdleResult {
  /** Seconds each process sat idle before the reading. */
  idleSeconds: number;
  /** Daemon VmRSS after `idleSeconds` idle, MB. */
  daemonRssMB: number;
  /** Daemon VmHWM (peak since start, start-up included), MB. */
  daemonPeakRssMB: number;
  /** Bare `Deno.listenDatagram` listener VmRSS after `idleSeconds` idle, MB. */
  bareRssMB: number;
  /** daemonRssMB / bareRssMB. */
  ratio: number;
}

/**
 * Idle RSS: a fresh daemon (the bench config: one server, Deno KV state, admin socket)
 * and the bare listener (`bare_listener.ts`, same V8 flags), each read after `seconds`
 * idle.
 */
export async function idleRss(seconds = 5): Promise<IdleResult> {
  const d = await startBenchDaemon(false);
  let daemon: ProcSample | undefined;
  try {
    await sleep(seconds * 1000);
    daemon = await sampleProc(d.pid);
  } finally {
    await d.stop();
  }
  const bare = spawnChild(Deno.execPath(), [
    ...CHILD_FLAGS,
    ...V8_FLAGS,
    `${HERE}bare_listener.ts`,
  ]);
  let baseline: ProcSample | undefined;
  try {
    await expectLine(bare, "port");
    await sleep(seconds * 1000);
    baseline = await sampleProc(bare.proc.pid);
  } finally {
    await bare.go().catch(() => {});
    await bare.proc.status;
  }
  if (!daemon || !baseline) throw new Error("idle RSS: a process was gone before the reading");
  return {
    idleSeconds: seconds,
    daemonRssMB: daemon.rssBytes / MB,
    daemonPeakRssMB: daemon.peakRssBytes / MB,
    bareRssMB: baseline.rssBytes / MB,
    ratio: daemon.rssBytes / baseline.rssBytes,
  };
}

async function sysctl(args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("sysctl", { args, stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Reads net.core.rmem_default (through sysctl: Deno refuses /proc/sys without -A). */
export async function rmemDefault(): Promise<number> {
  return Number(await sysctl(["-n", "net.core.rmem_default"]) ?? NaN);
}

/** Sets net.core.rmem_default; false when not writable. */
export async function setRmemDefault(bytes: number): Promise<boolean> {
  await sysctl(["-w", `net.core.rmem_default=${bytes}`]);
  return (await rmemDefault()) === bytes;
}

/** True when hping3 is installed and we are root (raw sockets). */
export async function haveHping3(): Promise<boolean> {
  if (Deno.uid?.() !== 0) return false;
  try {
    const out = await new Deno.Command("hping3", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.code === 0 || out.code === 1;
  } catch {
    return false;
  }
}

export { MANY };

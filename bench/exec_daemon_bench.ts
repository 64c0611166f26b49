/**
 * An exec action end to end through a real daemon (privilege separation on when run as root):
 * sealed request over loopback UDP → network part → privileged part → `/bin/true` as `nobody`
 * → reply, against a builtin `ping` through the same daemon in the same run (the baseline).
 *
 * Two ways, each A-B-B-A (ping, exec, exec, ping) so drift on a shared machine falls on both:
 * - closed loop: one in flight per source address (8 by default: `execution.max_concurrent`'s
 *   default) → the most the daemon sustains;
 * - open loop at a fixed offered rate (727/s by default: fwknopd's shell-per-packet command
 *   mode on this machine, the issue's reference, p50 2.2 ms), sent on schedule whatever the
 *   replies do → ok/s, lost and late (> 50 ms) replies, send→reply p50/p99 at that rate.
 *
 * - session commands (for comparison, not the issue's mode): one session per source address,
 *   opened before timing (one X25519 each), then the same actions as session commands in a
 *   closed loop (no X25519 and no durable nonce per command; the same privileged part).
 *
 * Every phase also gives the CPU time per ok request (`/proc/PID/stat`, 10 ms ticks) of the
 * privileged part, the network part, the action processes the privileged part spawned and
 * reaped (its cutime + cstime: `setsid`, `unshare`, the program) and the load generator: on a
 * shared 2-core machine these move far less with other work than the rates do.
 *
 * Run: `deno run -A bench/exec_daemon_bench.ts [SECONDS] [SOURCES] [RATE]`
 * @module
 */
import { aliceOptions, makeFixture, startDaemon } from "../tests/_helpers/daemon.ts";
import { type LoadOutcome, spawnKnockClient } from "../tests/_helpers/knock_client.ts";
import { ClientSession } from "../src/client/session.ts";

const seconds = Number(Deno.args[0] ?? 4);
const sourceCount = Number(Deno.args[1] ?? 8);
const rate = Number(Deno.args[2] ?? 727);
const TICK_MS = 10; // USER_HZ 100

const fx = await makeFixture({
  actions: [{ id: 10, name: "true", type: "exec", command: ["/bin/true"], run_as: "nobody" }],
  aliceActions: ["true"],
  top: {
    limits: { reply_rate: 1_000_000 },
    rate_limit: { per_source_rate: 1_000_000, per_source_burst: 1_000_000 },
    execution: { max_concurrent: sourceCount, queue: 1024 },
    logging: { level: "info", format: "json", drop_log_rate: 10 },
  },
});
const daemon = await startDaemon(fx.config);
const client = await spawnKnockClient(undefined, {
  host: "127.0.0.1",
  port: fx.port,
  serverPublic: fx.serverPublic,
  userId: 1,
  hmacKey: fx.aliceKey,
});
const sources = Array.from({ length: sourceCount }, (_, i) => `127.0.3.${i + 1}`);
const payloads = Array.from({ length: 64 }, (_, i) => `p${i}`);

/** utime+stime and cutime+cstime of a process, ms; zeros when it is gone. */
async function cpu(pid: number | undefined): Promise<{ self: number; reaped: number }> {
  if (pid === undefined) return { self: 0, reaped: 0 };
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return {
      self: (Number(f[11]) + Number(f[12])) * TICK_MS,
      reaped: (Number(f[13]) + Number(f[14])) * TICK_MS,
    };
  } catch {
    return { self: 0, reaped: 0 };
  }
}

/** The network part: the privileged part's only long-lived `deno` child. */
async function networkPid(parent: number): Promise<number | undefined> {
  try {
    for await (const t of Deno.readDir(`/proc/${parent}/task`)) {
      const kids = (await Deno.readTextFile(`/proc/${parent}/task/${t.name}/children`)).trim();
      for (const k of kids.split(/\s+/).filter((x) => x)) {
        const comm = (await Deno.readTextFile(`/proc/${k}/comm`)).trim();
        if (comm === "deno") return Number(k);
      }
    }
  } catch {
    // gone
  }
  return undefined;
}

const privPid = daemon.child.pid;
const netPid = await networkPid(privPid);
const clientPid = await (async () => {
  for await (const t of Deno.readDir(`/proc/${Deno.pid}/task`)) {
    const kids = (await Deno.readTextFile(`/proc/${Deno.pid}/task/${t.name}/children`)).trim();
    for (const k of kids.split(/\s+/).filter((x) => x)) {
      if (Number(k) !== privPid) return Number(k);
    }
  }
  return undefined;
})();

/** CPU ms per ok request of each part during one phase. */
interface Cpu {
  privileged: number;
  network: number;
  spawned: number;
  client: number;
}

async function snapshot(): Promise<Cpu> {
  const [p, n, c] = await Promise.all([cpu(privPid), cpu(netPid), cpu(clientPid)]);
  return { privileged: p.self, network: n.self, spawned: p.reaped, client: c.self };
}

type Phase = LoadOutcome & { cpu: Cpu; late?: number; offeredPerSecond?: number };

async function measured(run: () => Promise<LoadOutcome>): Promise<Phase> {
  const a = await snapshot();
  const r = await run();
  const b = await snapshot();
  const per = (k: keyof Cpu) => r.ok > 0 ? (b[k] - a[k]) / r.ok : NaN;
  return {
    ...r,
    cpu: {
      privileged: per("privileged"),
      network: per("network"),
      spawned: per("spawned"),
      client: per("client"),
    },
  };
}

/** Closed loop: `count` requests are sealed up front, enough for `secs` at a generous rate. */
function blast(actionId: number, secs: number): Promise<Phase> {
  const count = Math.ceil(secs * (actionId === 1 ? 6_000 : 2_000));
  return measured(() => client.blast({ actionId, payloads, sources, count, seconds: secs }));
}

/** Open loop at `rate`/s. */
function paced(actionId: number, secs: number): Promise<Phase> {
  return measured(() => client.paced({ actionId, payloads, sources, rate, seconds: secs }));
}

/** Session commands, closed loop, one lane per session; the load generator is this process. */
async function sessionLoop(sessions: ClientSession[], actionId: number, secs: number) {
  const a = await snapshot();
  const mine0 = (await cpu(Deno.pid)).self;
  const lat: number[] = [];
  let sent = 0;
  let lost = 0;
  const t0 = performance.now();
  const end = t0 + secs * 1000;
  await Promise.all(sessions.map(async (s) => {
    while (performance.now() < end) {
      const t = performance.now();
      sent++;
      const r = await s.run(actionId, new Uint8Array());
      if (r.answered && r.status === 0) lat.push(performance.now() - t);
      else lost++;
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const b = await snapshot();
  const mine = (await cpu(Deno.pid)).self - mine0;
  lat.sort((x, y) => x - y);
  const ok = lat.length;
  const per = (v: number) => ok > 0 ? v / ok : NaN;
  const q = (f: number) =>
    lat.length ? lat[Math.min(lat.length - 1, Math.floor(f * lat.length))] : NaN;
  return {
    sent,
    ok,
    lost,
    okPerSecond: ok / elapsed,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    cpu: {
      privileged: per(b.privileged - a.privileged),
      network: per(b.network - a.network),
      spawned: per(b.spawned - a.spawned),
      client: per(mine),
    },
  } as Phase;
}

function mean(a: Phase, b: Phase): Phase {
  const avg = (x: number, y: number) => (x + y) / 2;
  return {
    ...a,
    sent: a.sent + b.sent,
    ok: a.ok + b.ok,
    lost: a.lost + b.lost,
    late: a.late === undefined ? undefined : a.late + (b.late ?? 0),
    okPerSecond: avg(a.okPerSecond, b.okPerSecond),
    offeredPerSecond: a.offeredPerSecond === undefined
      ? undefined
      : avg(a.offeredPerSecond, b.offeredPerSecond ?? 0),
    p50Ms: avg(a.p50Ms, b.p50Ms),
    p99Ms: avg(a.p99Ms, b.p99Ms),
    cpu: {
      privileged: avg(a.cpu.privileged, b.cpu.privileged),
      network: avg(a.cpu.network, b.cpu.network),
      spawned: avg(a.cpu.spawned, b.cpu.spawned),
      client: avg(a.cpu.client, b.cpu.client),
    },
  };
}

function line(name: string, r: Phase): string {
  const c = r.cpu;
  const daemonMs = c.privileged + c.network + c.spawned;
  const late = r.late === undefined ? "" : `, ${r.late} late > 50 ms`;
  const offered = r.offeredPerSecond === undefined
    ? ""
    : ` at ${r.offeredPerSecond.toFixed(0)}/s offered`;
  return `${name}: ${
    r.okPerSecond.toFixed(0)
  } ok/s${offered} (${r.lost} lost of ${r.sent}${late}), ` +
    `send→reply p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms; CPU ms/request: ` +
    `daemon ${daemonMs.toFixed(2)} (privileged ${c.privileged.toFixed(2)}, network ` +
    `${c.network.toFixed(2)}, spawned ${c.spawned.toFixed(2)}), load generator ${
      c.client.toFixed(2)
    }`;
}

try {
  await blast(1, 1); // warm-up: JIT, the store, the privileged part's first spawn
  await blast(10, 1);
  const half = seconds / 2;
  const cl = [
    await blast(1, half),
    await blast(10, half),
    await blast(10, half),
    await blast(1, half),
  ];
  const ol = [
    await paced(1, half),
    await paced(10, half),
    await paced(10, half),
    await paced(1, half),
  ];
  const sessions = await Promise.all(sources.map(async (_, i) => {
    const o = await ClientSession.open(
      aliceOptions(fx, { bind: `127.0.5.${i + 1}`, timeoutMs: 1000, retries: 3 }),
    );
    if (!o.ok) throw new Error(`no session from 127.0.5.${i + 1}`);
    return o.session;
  }));
  await sessionLoop(sessions, 10, 0.5); // warm-up
  const sl = [
    await sessionLoop(sessions, 1, half),
    await sessionLoop(sessions, 10, half),
    await sessionLoop(sessions, 10, half),
    await sessionLoop(sessions, 1, half),
  ];
  await Promise.all(sessions.map((s) => s.close()));
  const ping = mean(cl[0], cl[3]);
  const exec = mean(cl[1], cl[2]);
  const pingO = mean(ol[0], ol[3]);
  const execO = mean(ol[1], ol[2]);
  console.log(`closed loop, ${sourceCount} in flight:`);
  console.log(line("  builtin ping (baseline)", ping));
  console.log(line("  exec /bin/true as nobody", exec));
  console.log(`open loop, ${rate}/s offered:`);
  console.log(line("  builtin ping (baseline)", pingO));
  console.log(line("  exec /bin/true as nobody", execO));
  console.log(`session commands, ${sourceCount} sessions (not the issue's per-packet mode):`);
  console.log(line("  builtin ping (baseline)", mean(sl[0], sl[3])));
  console.log(line("  exec /bin/true as nobody", mean(sl[1], sl[2])));
  console.log(
    `exec / ping (closed loop): ok/s ×${(exec.okPerSecond / ping.okPerSecond).toFixed(2)}, p50 ×${
      (exec.p50Ms / ping.p50Ms).toFixed(2)
    }; reference (issue 14, same machine): fwknopd command mode 727/s, p50 2.2 ms`,
  );
  if (netPid === undefined) console.log("(no network part found: privilege separation off?)");
} finally {
  await client.close();
  await daemon.stop();
  await fx.cleanup();
}

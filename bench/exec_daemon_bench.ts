/**
 * An exec action end to end through a real daemon (privilege separation on when run as root):
 * sealed request over loopback UDP → network part → privileged part → `/bin/true` as `nobody`
 * → reply, against a builtin `ping` through the same daemon in the same run (the baseline).
 * One in flight per source address (8 by default: `execution.max_concurrent`'s default).
 *
 * Run: `deno run -A bench/exec_daemon_bench.ts [SECONDS] [SOURCES]`
 * Prints ok/s and send→reply p50/p99 for each, and exec against ping; the issue's reference
 * for fwknopd's shell-per-packet command mode on this machine: 727/s, p50 2.2 ms.
 * @module
 */
import { makeFixture, startDaemon } from "../tests/_helpers/daemon.ts";
import { type LoadOutcome, spawnKnockClient } from "../tests/_helpers/knock_client.ts";

const seconds = Number(Deno.args[0] ?? 4);
const sourceCount = Number(Deno.args[1] ?? 8);

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

/** `count` requests are sealed up front: enough for `secs` at a generous rate. */
function blast(actionId: number, secs: number): Promise<LoadOutcome> {
  const count = Math.ceil(secs * (actionId === 1 ? 6_000 : 2_000));
  return client.blast({ actionId, payloads, sources, count, seconds: secs });
}

function line(name: string, r: LoadOutcome): string {
  return `${name}: ${r.okPerSecond.toFixed(0)} ok/s (${r.lost} lost of ${r.sent}), ` +
    `send→reply p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`;
}

try {
  await blast(1, 1); // warm-up: JIT, the store, the privileged part's first spawn
  await blast(10, 1);
  // A-B-B-A so drift on a shared machine falls on both.
  const ping1 = await blast(1, seconds / 2);
  const exec1 = await blast(10, seconds / 2);
  const exec2 = await blast(10, seconds / 2);
  const ping2 = await blast(1, seconds / 2);
  const mean = (a: LoadOutcome, b: LoadOutcome): LoadOutcome => ({
    ...a,
    sent: a.sent + b.sent,
    ok: a.ok + b.ok,
    lost: a.lost + b.lost,
    okPerSecond: (a.okPerSecond + b.okPerSecond) / 2,
    p50Ms: (a.p50Ms + b.p50Ms) / 2,
    p99Ms: (a.p99Ms + b.p99Ms) / 2,
  });
  const ping = mean(ping1, ping2);
  const exec = mean(exec1, exec2);
  console.log(line("builtin ping (baseline)", ping));
  console.log(line("exec /bin/true as nobody", exec));
  console.log(
    `exec / ping: ok/s ×${(exec.okPerSecond / ping.okPerSecond).toFixed(2)}, p50 ×${
      (exec.p50Ms / ping.p50Ms).toFixed(2)
    }; reference (issue 14, same machine): fwknopd command mode 727/s, p50 2.2 ms`,
  );
} finally {
  await client.close();
  await daemon.stop();
  await fx.cleanup();
}

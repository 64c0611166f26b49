/**
 * The kernel's knock state under a flood of wrong knocks: entering stage 1 is rate-limited
 * (per source, then per guard: `src/nft/knock.ts`), so the flood changes few set elements,
 * and a legitimate knock from another address still opens the port while the flood runs.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../_helpers/flags.ts";
import { netnsDaemonTest, sendPing } from "./_netns_daemon.ts";

const PORT = 50017;
const SEQ = [7001, 7002, 7003];
const FLOODER = new URL("./_knock_flood.ts", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Packets counted by the rule of the knock chain whose text matches `re`. */
function counted(chain: string, re: RegExp): number {
  const line = chain.split("\n").find((l) => re.test(l));
  const m = line?.match(/counter packets (\d+)/);
  if (!m) throw new Error(`no counted rule ${re} in:\n${chain}`);
  return Number(m[1]);
}

netnsDaemonTest(
  "knock under a flood of wrong knocks: the flood is limited, the right sequence opens",
  {
    port: PORT,
    server: { knock: { ports: SEQ, window: "3s", open_for: "30s" } },
    prepare: async (pair) => {
      const base = pair.clientIp.replace(/\.2$/, "");
      await pair.addClientAddresses(
        Array.from({ length: 8 }, (_, i) => `${base}.${20 + i}/24`),
      );
    },
  },
  async ({ pair, profile }) => {
    const base = pair.clientIp.replace(/\.2$/, "");
    const sources = Array.from({ length: 8 }, (_, i) => `${base}.${20 + i}`);
    // First port, then a wrong one: every source enters stage 1 and is reset, again and
    // again (the churn that costs the kernel most), for longer than the sends below take.
    let flooding = true;
    const flood = pair.run(pair.client, [
      Deno.execPath(),
      ...RUN_FLAGS,
      FLOODER,
      JSON.stringify({ server: pair.serverIp, ports: [SEQ[0], SEQ[2]], sources, ms: 20_000 }),
    ], { timeoutMs: 60_000 }).finally(() => flooding = false);
    const chain = async () =>
      (await pair.run(pair.server, ["nft", "list", "chain", "inet", "siglatch_knock", "input"]))
        .stdout;
    const meterDrops = async () => counted(await chain(), /update @g0_m_4 .*limit rate over/);
    for (let i = 0; i < 100 && await meterDrops() < 1000; i++) await sleep(100);
    assert.ok(await meterDrops() >= 1000, "the flood is under way and limited per source");

    const right = await profile("right", { knock: { ports: SEQ, gap_ms: 50 } });
    const codes: number[] = [];
    while (codes.length < 3 && !codes.includes(0)) codes.push(await sendPing(pair, right));
    assert.ok(flooding, "the flood still ran during the sends");
    assert.ok(codes.includes(0), `the right sequence opened within 3 attempts: ${codes}`);

    const res = await flood;
    assert.equal(res.code, 0, res.stderr);
    const sent = JSON.parse(res.stdout.trim().split("\n").at(-1)!).sent as number;
    const rules = await chain();
    const perSource = counted(rules, /update @g0_m_4 .*limit rate over/);
    const entries = counted(rules, /udp dport 7001 update @g0_q_s1_4 /);
    // Half the flood are first knocks; each source may enter stage 1 at most
    // SOURCE_BURST + SOURCE_RATE/s (here ≤ 8 × (5 + 2 × 20 s) = 360), the legitimate
    // client a few times: everything else was dropped before it could change a set.
    assert.ok(entries <= 2 * 360 + 10, `stage-1 entries ${entries} (flood sent ${sent})`);
    assert.ok(perSource >= 100 * entries, `per-source drops ${perSource}, entries ${entries}`);
  },
);

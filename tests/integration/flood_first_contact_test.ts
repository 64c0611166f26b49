/**
 * First contact through a spoofed flood (DESIGN §9: the attacker holds the server's public key
 * and sends from random forged sources), all real: the daemon in a network namespace, a raw
 * socket flood of unique mac1-valid datagrams (`bench/flood/spoofer.py`) from random 10/8
 * sources, the real client (`bench/flood/pinger.ts`: `sendRequest`, a fresh cookie jar per
 * source) in the other namespace. The flood spends the daemon-wide cookie budget (2,000/s of
 * 10,000/s), so a client's first datagram rarely gets a cookie; its copy (sent at once, from the
 * same address and port) gets one from the retry budget, and the request is answered on its
 * first attempt. Without the copy, four of five first contacts on the first attempt would have a
 * chance of 0.7 %.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { makeFixture } from "../_helpers/daemon.ts";
import {
  acceptSpoofedSources,
  skipNetns,
  startDaemonIn,
  withNetnsPair,
} from "../_helpers/netns.ts";
import { skipUnlessRoot, skipWithout } from "../_helpers/system.ts";
import { writeMac1Pool } from "../../bench/flood/spoofed.ts";
import { writeTarget } from "../../bench/flood/target.ts";
import type { PingReport } from "../../bench/flood/pinger.ts";
import { mac1Key } from "../../src/wire/mac1.ts";
import { SUITE_V2 } from "../../src/wire/suite.ts";
import { AdminClient } from "../../src/client/admin/client.ts";

const BENCH = new URL("../../bench/flood/", import.meta.url).pathname;
const skip = skipUnlessRoot("spoofed flood") || skipNetns() || skipWithout("python3", "python3");

/** Reads a child's stdout line by line. */
function lines(child: Deno.ChildProcess): () => Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  return async () => {
    for (;;) {
      const i = buf.indexOf("\n");
      if (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        return line;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error(`child ended; output so far: ${buf}`);
      buf += value;
    }
  };
}

Deno.test({
  name:
    "spoofed flood: a first contact is answered on its first attempt (its copy earns the cookie)",
  ignore: skip,
  fn: () =>
    withNetnsPair(async (pair) => {
      const { server, client, serverIp } = pair;
      await acceptSpoofedSources(pair);
      const net24 = pair.clientIp.replace(/\.\d+$/, "");
      await pair.addClientAddresses([1, 2, 3, 4, 5].map((i) => `${net24}.${40 + i}/24`));

      const fx = await makeFixture();
      const children: Deno.ChildProcess[] = [];
      try {
        const cfg = parse(await Deno.readTextFile(fx.config)) as {
          servers: { listen: string[] }[];
        };
        cfg.servers[0].listen = [`${serverIp}:${fx.port}`];
        await Deno.writeTextFile(fx.config, stringify(cfg));
        const d = await startDaemonIn(server, fx.config);
        try {
          const pool = `${fx.dir}/pool.bin`;
          await writeMac1Pool(pool, fx.serverPublic, 200);
          const key = mac1Key(SUITE_V2.mac1Label.secure, fx.serverPublic).toHex();
          const spoofer = new Deno.Command("ip", {
            args: ["netns", "exec", client, "python3", `${BENCH}spoofer.py`, "--pool", pool]
              .concat(["--dst", serverIp, "--port", String(fx.port), "--rate", "10000"])
              .concat(["--seconds", "6", "--mac1-key", key, "--unique", "70000"]),
            stdin: "piped",
            stdout: "piped",
            stderr: "piped",
          }).spawn();
          children.push(spoofer);
          const spooferSays = lines(spoofer);
          assert.equal(await spooferSays(), "ready");
          const target = `${fx.dir}/target.json`;
          await writeTarget(target, {
            port: fx.port,
            host: serverIp,
            serverPublic: fx.serverPublic,
            userId: 1,
            hmacKey: fx.aliceKey,
            actionId: 1,
          });
          const pinger = new Deno.Command("ip", {
            args: ["netns", "exec", client, Deno.execPath(), "run", "-A", `${BENCH}pinger.ts`]
              .concat(["--target", target, "--sequential", "5", "--retries", "1"])
              .concat(["--timeout", "1000", "--sources", `${net24}.41-${net24}.45`]),
            stdin: "piped",
            stdout: "piped",
            stderr: "piped",
          }).spawn();
          children.push(pinger);
          const pingerSays = lines(pinger);
          assert.equal(await pingerSays(), "ready");

          const go = new TextEncoder().encode("go\n");
          const w = spoofer.stdin.getWriter();
          await w.write(go);
          // 1.5 s of flood: the daemon is loaded, the cookie budget's burst (4,000) is spent.
          await new Promise((r) => setTimeout(r, 1500));
          const pw = pinger.stdin.getWriter();
          await pw.write(go);
          const report = JSON.parse(await pingerSays()) as PingReport;

          const admin = await AdminClient.connect(`${fx.dir}/run/admin.sock`);
          const st = await admin.request("status", {}, 15_000);
          admin.close();
          if (!st.ok) throw new Error(st.error);
          const c = (st.result as { counters: Record<string, number> }).counters;
          const detail = JSON.stringify({ report, counters: c });
          assert.ok((c.cookie_gate ?? 0) > 5000, `the flood was cookie-gated: ${detail}`);
          assert.ok((c.cookie_budget_spent ?? 0) > 0, `the budget was spent: ${detail}`);
          assert.ok((c.cookie_retry_replies ?? 0) >= 1, `copies earned cookies: ${detail}`);
          assert.equal(report.ok, 5, `every first contact answered: ${detail}`);
          assert.ok((report.attempts["1"] ?? 0) >= 4, `on the first attempt: ${detail}`);
          assert.equal(report.cold?.sent, 5, "five first contacts");
        } finally {
          await d.stop();
        }
      } finally {
        for (const c of children) {
          try {
            c.kill("SIGKILL");
          } catch {
            // gone
          }
          await c.status.catch(() => {});
          await c.stdout.cancel().catch(() => {});
          await c.stderr.cancel().catch(() => {});
        }
        await fx.cleanup();
      }
    }),
});

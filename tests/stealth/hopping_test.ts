/**
 * Port hopping with a real daemon: the server listens on the window's port derived from its
 * secret; after a change the old port still answers during the overlap and is silent after
 * it; the CLI computes the current port from its profile.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { parse, stringify } from "yaml";
import { makeFixture, runCli } from "../_helpers/daemon.ts";
import { hopPort, msToNextWindow, windowOf } from "../../src/stealth/derive.ts";
import { hopPortsAt } from "../../src/stealth/hopping.ts";
import { freePortRun } from "./_ports.ts";
import { assertListening, pingAlice, withLocalDaemon } from "./_local_daemon.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("hopping: the previous port is kept only during the overlap", () => {
  const secret = new Uint8Array(32).fill(1);
  const hop = { range: [30000, 39999] as [number, number], period: 1000, overlap: 300 };
  assert.deepEqual(hopPortsAt(secret, hop, 5100), [
    hopPort(secret, 5, hop.range),
    hopPort(secret, 4, hop.range),
  ]);
  assert.deepEqual(hopPortsAt(secret, hop, 5300), [hopPort(secret, 5, hop.range)]);
});

Deno.test({
  name: "hopping: the window's port answers, the old one only during the overlap; the CLI follows",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const HOST = "127.0.0.23";
    const PERIOD = 4000;
    const OVERLAP = 2000;
    const lo = freePortRun(200, [HOST]);
    const range: [number, number] = [lo, lo + 199];
    const secret = new Uint8Array(randomBytes(32));
    const fx = await makeFixture({
      listen: [`${HOST}:${lo + 200}`],
      server: { port_hopping: { secret_file: "hop.key", range, period: "4s", overlap: "2s" } },
    });
    await Deno.writeTextFile(`${fx.dir}/hop.key`, secret.toBase64() + "\n", { mode: 0o600 });
    const ping = async (port: number) => (await pingAlice(fx, HOST, port, 600)).answered;
    await withLocalDaemon(fx, async (daemon) => {
      assert.equal(await ping(lo + 200), false, "the configured port is not listened on");
      // A window whose successor has another port, entered past its overlap.
      for (;;) {
        await sleep(msToNextWindow(Date.now(), PERIOD) + OVERLAP + 200);
        const w = windowOf(Date.now(), PERIOD);
        if (hopPort(secret, w, range) !== hopPort(secret, w + 1, range)) break;
      }
      const w = windowOf(Date.now(), PERIOD);
      const old = hopPort(secret, w, range);
      const next = hopPort(secret, w + 1, range);
      assert.equal(await ping(old), true, "the window's port answers");
      const profile = parse(await Deno.readTextFile(fx.profile)) as Record<string, unknown>;
      await Deno.writeTextFile(
        fx.profile,
        stringify({
          ...profile,
          host: HOST,
          port_hopping: { secret_file: "hop.key", range, period: 4 },
        }),
      );
      await sleep(msToNextWindow(Date.now(), PERIOD) + 150);
      assert.equal(windowOf(Date.now(), PERIOD), w + 1);
      assert.equal(await ping(old), true, "the old port still answers during the overlap");
      await sleep(msToNextWindow(Date.now(), PERIOD) - PERIOD + OVERLAP + 300);
      assert.equal(windowOf(Date.now(), PERIOD), w + 1);
      assert.equal(await ping(old), false, "the old port is silent after the overlap");
      assert.equal(await ping(next), true, "the new port answers");
      const cli = await runCli(["send", "-p", fx.profile, "ping"]);
      assert.equal(cli.code, 0, `the CLI computes the current port: ${cli.stderr}`);
      assertListening(daemon, HOST, next);
    });
  },
});

/**
 * What a scanner sees of server decoys: a real `nmap` (TCP SYN, UDP, and version detection
 * of the banner) from the client namespace against a siglatchd with a banner, a tarpit and
 * a random-answer decoy in the server namespace. The config intends: the decoy TCP ports
 * open (the banner read as SSH), the UDP decoy open (it answers), the request port silent
 * (open|filtered), every other port closed. Skipped with a named reason only where nmap is
 * not installed.
 */
import assert from "node:assert/strict";
import { makeFixture } from "../_helpers/daemon.ts";
import { hasCommand, requireAll } from "../_helpers/system.ts";
import { type NetnsDaemon, skipNetns, startDaemonIn, withNetnsPair } from "../_helpers/netns.ts";
import { states } from "./_nmap.ts";

const PORT = 50017;
// Below 1024: bound before the network part drops root.
const BANNER = 22;
const TARPIT = 2223;
const RANDOM = 5353;
const noNmap = !hasCommand("nmap") && !requireAll;
if (noNmap) console.log("SKIP: nmap not installed (apt-get install nmap; .ci/run installs it)");

Deno.test({
  name: "nmap: decoy ports show open (banner read as ssh), the request port silent, others closed",
  ignore: skipNetns() || noNmap,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNetnsPair(async (pair) => {
      const fx = await makeFixture({
        listen: [`${pair.serverIp}:${PORT}`],
        top: {
          decoys: {
            per_source_rate: 20,
            ports: [
              { listen: `${pair.serverIp}:${BANNER}`, type: "banner" },
              { listen: `${pair.serverIp}:${TARPIT}`, type: "tarpit", interval: "1s" },
              { listen: `${pair.serverIp}:${RANDOM}`, type: "random" },
            ],
          },
        },
      });
      let daemon: NetnsDaemon | undefined;
      try {
        daemon = await startDaemonIn(pair.server, fx.config);
        const nmap = async (args: string[]) => {
          const r = await pair.run(pair.client, [
            "nmap",
            ...args,
            "-Pn",
            "-n",
            "--max-retries",
            "1",
            "--host-timeout",
            "90s",
            "-oG",
            "-",
            pair.serverIp,
          ], { timeoutMs: 120_000 });
          assert.equal(r.code, 0, r.stderr);
          return r.stdout;
        };
        const tcp = states(await nmap(["-sS", "-p", `${BANNER},${TARPIT},${TARPIT + 1}`]));
        assert.deepEqual(tcp, {
          [`${BANNER}/tcp`]: "open",
          [`${TARPIT}/tcp`]: "open",
          [`${TARPIT + 1}/tcp`]: "closed",
        });
        // A payload, so the decoy has something to answer (it never answers an empty one).
        const udp = states(
          await nmap(["-sU", "--data-length", "24", "-p", `${RANDOM},${PORT},${PORT + 1}`]),
        );
        assert.deepEqual(udp, {
          [`${RANDOM}/udp`]: "open",
          [`${PORT}/udp`]: "open|filtered",
          [`${PORT + 1}/udp`]: "closed",
        });
        const version = await nmap(["-sV", "--version-light", "-p", `${BANNER}`]);
        assert.match(version, new RegExp(`${BANNER}/open/tcp//ssh//OpenSSH`), version);
      } finally {
        await daemon?.stop();
        await fx.cleanup();
      }
    });
  },
});

/**
 * What a scanner sees: a real `nmap` (TCP SYN and UDP scans) from the client namespace
 * against a siglatchd guarded by a TCP knock sequence in the server namespace. The config
 * intends: the request port never answers (UDP open|filtered, like any silent port), the
 * knock ports are filtered (dropped: no RST), ports the config does not name behave as the
 * host's own (closed). An ascending scan does not complete a non-ascending sequence (a
 * random-order scan of a static sequence's ports may: that is why `check` warns). Skipped with a named reason only where nmap is not installed.
 */
import assert from "node:assert/strict";
import { hasCommand, requireAll } from "../_helpers/system.ts";
import { states } from "./_nmap.ts";
import { netnsDaemonTest } from "./_netns_daemon.ts";

const PORT = 50017;
const noNmap = !hasCommand("nmap") && !requireAll;
if (noNmap) console.log("SKIP: nmap not installed (apt-get install nmap; .ci/run installs it)");

netnsDaemonTest(
  "nmap: a knock-guarded daemon shows filtered knock ports, a silent request port, nothing else",
  {
    port: PORT,
    server: { knock: { ports: [7003, 7001, 7002], proto: "tcp", window: "2s" } },
  },
  async ({ pair }) => {
    const scan = async (kind: "-sS" | "-sU", ports: string) => {
      const r = await pair.run(pair.client, [
        "nmap",
        kind,
        "-Pn",
        // Ports in ascending order: a sequence that is not ascending is never completed.
        "-r",
        "-n",
        "--max-retries",
        "1",
        "--host-timeout",
        "60s",
        "-p",
        ports,
        "-oG",
        "-",
        pair.serverIp,
      ], { timeoutMs: 90_000 });
      assert.equal(r.code, 0, r.stderr);
      return states(r.stdout);
    };
    const tcp = await scan("-sS", "7001-7004");
    assert.deepEqual(tcp, {
      "7001/tcp": "filtered",
      "7002/tcp": "filtered",
      "7003/tcp": "filtered",
      "7004/tcp": "closed",
    });
    const udp = await scan("-sU", `${PORT},${PORT + 1}`);
    assert.deepEqual(udp, { [`${PORT}/udp`]: "open|filtered", [`${PORT + 1}/udp`]: "closed" });
    const rules = await pair.run(pair.server, [
      "nft",
      "list",
      "set",
      "inet",
      "siglatch_knock",
      "g0_ok_4",
    ]);
    assert.doesNotMatch(
      rules.stdout,
      /elements/,
      "the (ascending) scan did not knock its way in",
    );
  },
  noNmap,
);

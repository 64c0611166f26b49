/**
 * Knock and port hopping on one server: the knock rules guard the current hopping port and
 * are rewritten at every hop; a source that knocked stays open across the hop (the finished
 * set survives the rewrite), one that did not is silent on the new port too. Real daemon
 * (privilege separation) in a namespace, the real CLI computing port and sequence.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { hopPort, msToNextWindow, windowOf } from "../../src/stealth/derive.ts";
import { netnsTest, sendPing, withNetnsDaemon } from "./_netns_daemon.ts";

const PERIOD = 5000;
const OVERLAP = 1000;
const RANGE: [number, number] = [45000, 45999];
const SEQ = [7013, 7011, 7012];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

netnsTest("knock + port_hopping: the knock guards the hopping port, hop after hop", async () => {
  const secret = new Uint8Array(randomBytes(32));
  await withNetnsDaemon({
    port: 50017,
    server: {
      knock: { ports: SEQ, window: "3s", open_for: "60s" },
      port_hopping: { secret_file: "hop.key", range: RANGE, period: "5s", overlap: "1s" },
    },
    prepare: async (_pair, fx) => {
      await Deno.writeTextFile(`${fx.dir}/hop.key`, secret.toBase64() + "\n", { mode: 0o600 });
    },
  }, async ({ pair, profile }) => {
    const hop = { port_hopping: { secret_file: "hop.key", range: RANGE, period: PERIOD / 1000 } };
    const knock = { knock: { ports: SEQ, gap_ms: 50 } };
    const plainA = await profile("plainA", { ...hop, bind: pair.clientIp });
    const plainB = await profile("plainB", { ...hop, bind: pair.clientIpB });
    const knockA = await profile("knockA", { ...hop, ...knock, bind: pair.clientIp });
    const knockB = await profile("knockB", { ...hop, ...knock, bind: pair.clientIpB });
    assert.equal(await sendPing(pair, plainA), 3, "the hopping port without a knock: silence");
    assert.equal(await sendPing(pair, knockA), 0, "knocked, then the hopping port: answered");
    const w = windowOf(Date.now(), PERIOD);
    const guard = async () =>
      (await pair.run(pair.server, ["nft", "list", "chain", "inet", "siglatch_knock", "input"]))
        .stdout;
    assert.match(
      await guard(),
      new RegExp(`udp dport [^\\n]*\\b${hopPort(secret, w, RANGE)}\\b`),
    );
    // The next window, past its overlap: the port has moved, the rules with it.
    await sleep(msToNextWindow(Date.now(), PERIOD) + OVERLAP + 300);
    const w2 = windowOf(Date.now(), PERIOD);
    assert.ok(w2 > w);
    const rules = await guard();
    assert.match(rules, new RegExp(`udp dport [^\\n]*\\b${hopPort(secret, w2, RANGE)}\\b`));
    assert.equal(await sendPing(pair, plainB), 3, "after the hop, no knock: silence");
    assert.equal(
      await sendPing(pair, plainA),
      0,
      "after the hop, the source that knocked (open_for 60 s) is still let through",
    );
    assert.equal(await sendPing(pair, knockB), 0, "after the hop, knocked: answered");
  });
});

/**
 * Knock sequences in the kernel, end to end: a real siglatchd (privilege separation: the
 * privileged part writes the nftables rules) in a server namespace, the real CLI in a client
 * namespace. The server's port is silent until the source knocked the right sequence; a
 * wrong order is silence; a derived sequence replayed in the next window is silence.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Fixture } from "../_helpers/daemon.ts";
import type { NetnsPair } from "../_helpers/netns.ts";
import { knockSequence, msToNextWindow, windowOf } from "../../src/stealth/derive.ts";
import { netnsDaemonTest, netnsTest, sendPing as send, withNetnsDaemon } from "./_netns_daemon.ts";

const PORT = 50017;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The knock table is gone from the server namespace (checked after the daemon stopped). */
async function tableRemoved(pair: NetnsPair): Promise<void> {
  const gone = await pair.run(pair.server, ["nft", "list", "table", "inet", "siglatch_knock"]);
  assert.notEqual(gone.code, 0, "the knock table is removed at stop");
}

netnsDaemonTest(
  "knock (static, udp): no knock and a wrong order get silence; the sequence opens",
  {
    port: PORT,
    server: { knock: { ports: [7001, 7002, 7003], window: "3s", open_for: "30s" } },
    afterStop: tableRemoved,
  },
  async ({ pair, profile: p }) => {
    assert.equal(await send(pair, await p("plain")), 3, "no knock: silence");
    const wrong = await p("wrong", { knock: { ports: [7001, 7003, 7002], gap_ms: 50 } });
    assert.equal(await send(pair, wrong), 3, "wrong order: silence");
    const partial = await p("partial", { knock: { ports: [7001, 7002], gap_ms: 50 } });
    assert.equal(await send(pair, partial), 3, "two of three: silence");
    const right = await p("right", { knock: { ports: [7001, 7002, 7003], gap_ms: 50 } });
    assert.equal(await send(pair, right), 0, "the right sequence: answered");
    const rules = await pair.run(pair.server, ["nft", "list", "table", "inet", "siglatch_knock"]);
    assert.match(
      rules.stdout,
      new RegExp(`g0_ok_4[^}]*elements = \\{ ${pair.clientIp.replaceAll(".", "\\.")}`),
    );
  },
);

/** Writes `secret` as the fixture's `knock.key`. */
const keyFile = (secret: Uint8Array) => async (_pair: NetnsPair, fx: Fixture) =>
  await Deno.writeTextFile(`${fx.dir}/knock.key`, secret.toBase64() + "\n", { mode: 0o600 });

netnsTest(
  "knock (derived, tcp SYN): the window's sequence opens; replayed in the next window: silence",
  async () => {
    const secret = new Uint8Array(randomBytes(32));
    const PERIOD = 6000;
    const range: [number, number] = [41000, 41999];
    await withNetnsDaemon({
      port: PORT,
      server: {
        knock: {
          derived: { secret_file: "knock.key", length: 3, range, period: "6s" },
          proto: "tcp",
          window: "3s",
          open_for: "30s",
        },
      },
      prepare: async (pair, fx) => {
        await keyFile(secret)(pair, fx);
        await pair.addClientAddresses([`${pair.clientIp.replace(/\.2$/, ".4")}/24`]);
      },
    }, async ({ pair, profile: p }) => {
      const third = pair.clientIp.replace(/\.2$/, ".4");
      const derived = (bind: string) => ({
        bind,
        knock: { secret_file: "knock.key", length: 3, range, period: 6, proto: "tcp", gap_ms: 50 },
      });
      assert.equal(
        await send(pair, await p("derived", derived(pair.clientIp))),
        0,
        "derived: answered",
      );
      // Start at the beginning of a window, so the whole exchange fits in it.
      await sleep(msToNextWindow(Date.now(), PERIOD) + 300);
      const w = windowOf(Date.now(), PERIOD);
      const seen = knockSequence(secret, 1, w, 3, range);
      const copy = (bind: string) => ({ bind, knock: { ports: seen, proto: "tcp", gap_ms: 50 } });
      assert.equal(
        await send(pair, await p("copyB", copy(pair.clientIpB))),
        0,
        "the same sequence from another address in the same window: answered (static replay)",
      );
      assert.equal(windowOf(Date.now(), PERIOD), w, "still the same window (test timing)");
      await sleep(msToNextWindow(Date.now(), PERIOD) + 500);
      assert.equal(
        await send(pair, await p("copyC", copy(third))),
        3,
        "last window's sequence in the next window: silence",
      );
      assert.equal(
        await send(pair, await p("derivedC", derived(third))),
        0,
        "the current window's sequence from that address: answered",
      );
    });
  },
);

netnsDaemonTest(
  "knock without privilege separation: the one root process writes, keeps and removes the rules",
  {
    port: PORT,
    server: { knock: { ports: [7102, 7101, 7103], window: "3s", open_for: "30s" } },
    top: { privsep: { enabled: false } },
    afterStop: tableRemoved,
  },
  async ({ pair, daemon, profile: p }) => {
    assert.doesNotMatch(daemon.logs(), /network part runs as/, "one process, as root");
    assert.equal(await send(pair, await p("plain")), 3, "no knock: silence");
    const wrong = await p("wrong", { knock: { ports: [7101, 7102, 7103], gap_ms: 50 } });
    assert.equal(await send(pair, wrong), 3, "wrong order: silence");
    // Someone flushes the ruleset: the guard puts the rules back (every 5 s) and the
    // port stays closed to sources that did not knock.
    await pair.nft(pair.server, "flush ruleset\n");
    let rules = "";
    for (let i = 0; i < 80 && !/g0_ok_4/.test(rules); i++) {
      await sleep(100);
      rules = (await pair.run(pair.server, ["nft", "list", "ruleset"])).stdout;
    }
    assert.match(rules, /table inet siglatch_knock/, "the knock rules are back after a flush");
    const right = await p("right", { knock: { ports: [7102, 7101, 7103], gap_ms: 50 } });
    assert.equal(await send(pair, right), 0, "the right sequence: answered");
  },
);

netnsTest(
  "knock (derived, grace): last window's sequence opens during the grace, not after it; two windows ago: silence",
  async () => {
    const secret = new Uint8Array(randomBytes(32));
    const PERIOD = 8000;
    const GRACE = 4000;
    const range: [number, number] = [42000, 42999];
    const extra = (pair: NetnsPair) => [4, 5].map((n) => pair.clientIp.replace(/\.2$/, `.${n}`));
    await withNetnsDaemon({
      port: PORT,
      server: {
        knock: {
          derived: { secret_file: "knock.key", length: 3, range, period: "8s", grace: "4s" },
          window: "3s",
          open_for: "30s",
        },
      },
      prepare: async (pair, fx) => {
        await keyFile(secret)(pair, fx);
        await pair.addClientAddresses(extra(pair).map((a) => `${a}/24`));
      },
    }, async ({ pair, profile: p }) => {
      const [c4, c5] = extra(pair);
      const copy = async (name: string, bind: string, window: number) =>
        await p(name, {
          bind,
          knock: { ports: knockSequence(secret, 1, window, 3, range), gap_ms: 30 },
        });
      // Just after a window change (the daemon's rules are rewritten 5 ms after it).
      await sleep(msToNextWindow(Date.now(), PERIOD) + 200);
      const w = windowOf(Date.now(), PERIOD);
      const previous = await copy("previous", pair.clientIp, w - 1);
      const twoAgo = await copy("twoAgo", pair.clientIpB, w - 2);
      const late = await copy("late", c4, w - 1);
      assert.equal(await send(pair, previous), 0, "last window's sequence in the grace: answered");
      assert.ok(Date.now() - w * PERIOD < GRACE, "still in the grace (test timing)");
      assert.equal(await send(pair, twoAgo), 3, "two windows ago: silence");
      await sleep(w * PERIOD + GRACE + 500 - Date.now());
      assert.equal(windowOf(Date.now(), PERIOD), w, "still the same window (test timing)");
      assert.equal(await send(pair, late), 3, "last window's sequence after the grace: silence");
      const now = await copy("now", c5, w);
      assert.equal(await send(pair, now), 0, "this window's sequence: answered");
    });
  },
);

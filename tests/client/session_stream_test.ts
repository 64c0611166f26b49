/** Streamed output in a session: ≥ 10 MB through a relay that loses 5 % of datagrams. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { aliceOptions, makeFixture, startDaemon } from "../_helpers/daemon.ts";
import { LossyRelay } from "../_helpers/lossy_relay.ts";
import { ClientSession } from "../../src/client/session.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";

const LINES = 1_400_000; // `seq 1 1400000`: 10,488,895 bytes

function expected(): { sha: string; bytes: number } {
  const h = createHash("sha256");
  let bytes = 0;
  const enc = new TextEncoder();
  for (let i = 1; i <= LINES; i += 10_000) {
    let chunk = "";
    for (let j = i; j < i + 10_000 && j <= LINES; j++) chunk += `${j}\n`;
    const b = enc.encode(chunk);
    bytes += b.length;
    h.update(b);
  }
  return { sha: h.digest("hex"), bytes };
}

Deno.test("session stream: 10 MB of exec output arrives complete and in order through 5 % loss", async () => {
  const fx = await makeFixture({
    actions: [{
      id: 10,
      name: "big",
      type: "exec",
      command: ["/usr/bin/seq", "1", String(LINES)],
      output_cap: 16 * 1024 * 1024,
      timeout: "60s",
    }],
    aliceActions: ["big"],
  });
  const d = await startDaemon(fx.config);
  const relay = new LossyRelay({ transport: "udp", hostname: "127.0.0.1", port: fx.port }, 0.05);
  try {
    const opened = await ClientSession.open(aliceOptions(fx, {
      port: relay.port,
      actionId: 10,
      timeoutMs: 400,
      retries: 20,
    }));
    assert.ok(opened.ok, "the session opens through the lossy relay");
    const s = opened.session;
    const h = createHash("sha256");
    let bytes = 0;
    let chunks = 0;
    const r = await s.run(10, new Uint8Array(), (c, stderr) => {
      assert.equal(stderr, false);
      h.update(c);
      bytes += c.length;
      chunks++;
    });
    assert.ok(r.answered, "the final result arrived");
    assert.equal(r.status, ReplyStatus.Ok);
    assert.equal(r.exitCode, 0);
    const want = expected();
    assert.ok(want.bytes >= 10_000_000);
    assert.equal(bytes, want.bytes);
    assert.equal(h.digest("hex"), want.sha, "sha256 of what arrived = of what seq printed");
    assert.deepEqual(r.body?.streamed, { events: chunks, bytes: want.bytes });
    assert.ok(relay.stats.downLost > 100 && relay.stats.upLost > 100, JSON.stringify(relay.stats));
    // the session still answers after the stream
    assert.equal((await s.run(1)).body?.data, "pong");
    await s.close();
  } finally {
    await relay.close();
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("session stream: output arrives while the action runs, stdout and stderr apart; a quiet action keeps the client waiting", async () => {
  const fx = await makeFixture({
    scripts: {
      "slow.sh": 'echo first\nwhile [ ! -e "$(dirname "$0")/go" ]; do sleep 0.05; done\n' +
        "echo second >&2\necho third\nsleep 1.5\nexit 3",
    },
    actions: [{ id: 10, name: "slow", type: "exec", command: ["$DIR/slow.sh"], timeout: "20s" }],
    aliceActions: ["slow"],
  });
  const d = await startDaemon(fx.config);
  try {
    const opened = await ClientSession.open(aliceOptions(fx, {
      actionId: 10,
      // 1.5 s of silence after the output is longer than 3 x 300 ms: the client waits on
      // only because the server answers its retries with "running"
      timeoutMs: 300,
      retries: 2,
    }));
    assert.ok(opened.ok);
    const seen: string[] = [];
    const dec = new TextDecoder();
    const r = await opened.session.run(10, new Uint8Array(), async (c, stderr) => {
      const text = dec.decode(c);
      seen.push(`${stderr ? "err" : "out"}:${text}`);
      // The action waits for this file: only output that arrives while it runs creates it.
      if (text.includes("first")) await Deno.writeTextFile(`${fx.dir}/go`, "");
    });
    assert.equal(r.answered, true);
    assert.equal(r.exitCode, 3, JSON.stringify(r));
    assert.equal(r.status, ReplyStatus.Error);
    // (stdout and stderr are read apart: their order between each other is not kept)
    assert.equal(seen[0], "out:first\n");
    assert.deepEqual(seen.slice(1).sort(), ["err:second\n", "out:third\n"]);
    assert.equal(r.body?.err, undefined, "stderr came as events, not again in the result");
    assert.deepEqual(r.body?.streamed, { events: 3, bytes: 19 });
    await opened.session.close();
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

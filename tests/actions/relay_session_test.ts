/**
 * Sessions through relays, with real daemons on 127.0.0.x: `send A --then B --then C` through
 * one relay and through a chain of two (one handshake; the final server sees the last relay's
 * path socket as the session's address), `--follow` of a few hundred KB through a relay, and a
 * valid session datagram copied to the relay from another address (silence; the same bytes
 * from the session's own socket run).
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { type FixtureOptions, freeUdpPort, runCli, startDaemon } from "../_helpers/daemon.ts";
import {
  type Node,
  node,
  RELAY_ID,
  relayTo,
  startAll,
  stopAll,
  viaOptions,
  writeViaProfile,
} from "../_helpers/relay_nodes.ts";
import { ClientSession } from "../../src/client/session.ts";
import { encodeCommand, SessionC2S } from "../../src/wire/session.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";

/** A profile for the final server `c` through `via` (first hop first). */
function viaProfile(c: Node, via: Node[], name: string): Promise<string> {
  return writeViaProfile(c, via, name, {
    timeout: 3,
    retries: 1,
    actions: { ping: 1, echo: 30, count: 31 },
  });
}

const FINAL: FixtureOptions = {
  scripts: { "echo.sh": 'printf "got:%s" "$(cat)"' },
  actions: [
    { id: 30, name: "echo", type: "exec", command: ["$DIR/echo.sh"], reply: true },
    {
      id: 31,
      name: "count",
      type: "exec",
      command: ["/usr/bin/seq", "1", "60000"],
      output_cap: 1 << 20,
    },
  ],
  aliceActions: ["echo", "count"],
};

/** A final server `c` (FINAL, on 127.0.0.4) and a relay `a` to it (127.0.0.2), both running. */
async function finalBehindRelay(): Promise<{ a: Node; c: Node; nodes: Node[] }> {
  const c = await node("127.0.0.4", FINAL);
  const a = await node("127.0.0.2", {}, c.fx.aliceKey);
  const nodes = [a, c];
  try {
    await relayTo(a, c);
    await startAll(nodes);
  } catch (err) {
    await stopAll(nodes);
    throw err;
  }
  return { a, c, nodes };
}

function accepted(n: Node): unknown[][] {
  return n.d!.records().filter((r) => r.decision === "accepted").map((r) => [r.action, r.ip]);
}

Deno.test("relay sessions: send --then through one relay and through two; --follow of ~340 KB through one", async () => {
  const c = await node("127.0.0.4", FINAL);
  const b = await node("127.0.0.3", {}, c.fx.aliceKey);
  const a = await node("127.0.0.2", {}, c.fx.aliceKey);
  const nodes = [a, b, c];
  try {
    await relayTo(a, c);
    await relayTo(b, c);
    await startAll(nodes);
    const one = await viaProfile(c, [a], "one");
    const r = await runCli([
      "send",
      "-p",
      one,
      "ping",
      "--then",
      "echo",
      "hello through a relay",
      "--then",
      "ping",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.status), ["ok", "ok", "ok"]);
    assert.equal(lines[0].data, "pong");
    assert.equal(lines[1].out, "got:hello through a relay");
    assert.equal(lines[2].data, "pong");
    // One handshake through A (one relay step), one session at C, whose address is A's.
    const sessions = c.d!.records().filter((x) => x.decision === "session");
    assert.equal(sessions.length, 1, JSON.stringify(sessions));
    assert.equal(sessions[0].ip, a.ip);
    assert.deepEqual(accepted(a), [["hop", "127.0.0.1"]]);
    assert.deepEqual(accepted(c), [["echo", a.ip]]);

    // --follow: ~340 KB of output as events through A, every byte in order.
    let want = "";
    for (let i = 1; i <= 60000; i++) want += `${i}\n`;
    const f = await runCli(["send", "-p", one, "count", "--follow"]);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(f.stdout.length, want.length);
    assert.equal(f.stdout, want);
    assert.deepEqual(accepted(a), [["hop", "127.0.0.1"], ["hop", "127.0.0.1"]]);

    // A chain of two: the client → A → B → C. B forwards to C; A forwards to B.
    await a.d!.stop();
    a.d = undefined;
    const cfgA = parse(await Deno.readTextFile(a.fx.config)) as { actions: { id: number }[] };
    cfgA.actions = cfgA.actions.filter((x) => x.id !== RELAY_ID);
    await Deno.writeTextFile(a.fx.config, stringify(cfgA));
    await relayTo(a, b);
    a.d = await startDaemon(a.fx.config);
    const two = await viaProfile(c, [a, b], "two");
    const t = await runCli([
      "send",
      "-p",
      two,
      "echo",
      "two hops",
      "--then",
      "ping",
      "--then",
      "echo",
      "again",
    ]);
    assert.equal(t.code, 0, t.stderr + t.stdout);
    assert.equal(t.stdout, "--- [1] echo\ngot:two hops--- [2] ping\npong\n--- [3] echo\ngot:again");
    assert.equal(
      c.d!.records().filter((x) => x.decision === "session").length,
      3,
      "--follow opened one too",
    );
    assert.deepEqual(accepted(b), [["hop", a.ip]]);
    assert.deepEqual(accepted(c).slice(-2), [["echo", b.ip], ["echo", b.ip]]);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("relay sessions: a valid session datagram sent to the relay from another address gets silence", async () => {
  const { a, c, nodes } = await finalBehindRelay();
  try {
    const opened = await ClientSession.open(viaOptions(c, [a], { timeoutMs: 2000, retries: 1 }));
    assert.ok(opened.ok, JSON.stringify(!opened.ok && opened.result));
    const s = opened.session;
    const first = await s.run(30, new TextEncoder().encode("mine"));
    assert.equal(first.status, ReplyStatus.Ok);
    assert.equal(first.body?.out, "got:mine");

    // The next command, sealed right (as a copy of the client's datagram would be), sent to
    // the relay from another address: not forwarded, no answer of any kind.
    const copy = s.sealRaw(encodeCommand({
      kind: SessionC2S.Command,
      cmd: 77,
      actionId: 30,
      seq: 0,
      payload: new TextEncoder().encode("spoofed"),
    }));
    for (const host of ["127.0.0.1", "127.0.0.6"]) {
      const other = Deno.listenDatagram({ transport: "udp", hostname: host, port: 0 });
      try {
        await other.send(copy, { transport: "udp", hostname: a.ip, port: a.port });
        let timer: ReturnType<typeof setTimeout> | undefined;
        const got = await Promise.race([
          other.receive(),
          new Promise<null>((res) => timer = setTimeout(() => res(null), 800)),
        ]);
        clearTimeout(timer);
        assert.equal(got, null, `silence for ${host}`);
      } finally {
        other.close();
      }
    }
    assert.equal(accepted(c).length, 1, "C ran nothing for the copies");
    // The same bytes from the session's own socket are forwarded and run: the copy was valid.
    await s.sendRaw(copy);
    await c.d!.waitFor(/accepted user=alice action=echo/);
    await waitUntil(() => accepted(c).length === 2);
    assert.deepEqual(accepted(c), [["echo", a.ip], ["echo", a.ip]]);
    // and the session goes on
    const again = await s.run(1);
    assert.equal(again.status, ReplyStatus.Ok);
    assert.equal(again.body?.data, "pong");
    await s.close();
  } finally {
    await stopAll(nodes);
  }
});

async function waitUntil(ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("relay: a final server that wants proof after opening gets relay_proof_required, and --allow-ip is the fix for a forward", async () => {
  const fwdPort = freeUdpPort("127.0.0.4");
  const c = await node("127.0.0.4", {
    actions: [
      {
        id: 32,
        name: "game",
        type: "forward",
        forward: { listen: `127.0.0.4:${fwdPort}`, to: "127.0.0.9:9", duration: "3s" },
      },
      { id: 33, name: "strict", type: "builtin", builtin: "ping", require_challenge: true },
    ],
    aliceActions: ["game", "strict"],
  });
  const a = await node("127.0.0.2", {}, c.fx.aliceKey);
  const nodes = [a, c];
  try {
    await relayTo(a, c);
    await startAll(nodes);
    const one = await viaProfile(c, [a], "proof");
    const cfg = parse(await Deno.readTextFile(one)) as { actions: Record<string, number> };
    cfg.actions.game = 32;
    cfg.actions.strict = 33;
    await Deno.writeTextFile(one, stringify({ ...cfg, retries: 0 }));
    // require_challenge: C opened the request, then asked for proof; A's proven copy is a replay.
    const strict = await runCli(["send", "-p", one, "strict"]);
    assert.equal(strict.code, 1, strict.stderr);
    assert.match(strict.stderr, /relay hop 1: error: relay_proof_required/);
    assert.match(strict.stderr, /--allow-ip/);
    // A forward without an address wants the source proven too; with --allow-ip it is granted.
    const bare = await runCli(["send", "-p", one, "game"]);
    assert.equal(bare.code, 1, bare.stderr);
    assert.match(bare.stderr, /relay_proof_required/);
    const named = await runCli(["send", "-p", one, "game", "--allow-ip", "127.0.0.1"]);
    assert.equal(named.code, 0, named.stderr + named.stdout);
    assert.deepEqual(
      c.d!.records().filter((r) => r.decision === "accepted").map((r) => [r.action, r.ip]),
      [["game", a.ip]],
      "C ran only the request that named its address",
    );
    // A relay that asked nothing of C still answers plainly.
    const ok = await runCli(["send", "-p", one, "ping"]);
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("relay sessions: the relay decides its policy again: an admin disable of the user on A ends the path", async () => {
  const { a, c, nodes } = await finalBehindRelay();
  try {
    const opened = await ClientSession.open(viaOptions(c, [a], { timeoutMs: 1000 }));
    assert.ok(opened.ok);
    const s = opened.session;
    assert.equal((await s.run(1)).status, ReplyStatus.Ok);
    const off = await runCli([
      "admin",
      "--socket",
      `${a.fx.dir}/run/admin.sock`,
      "disable",
      "user",
      "alice",
    ]);
    assert.equal(off.code, 0, off.stderr);
    // C would still answer (its session is alive), but A no longer forwards for alice.
    const after = await s.run(1);
    assert.equal(after.answered, false, JSON.stringify(after));
    await s.close();
  } finally {
    await stopAll(nodes);
  }
});

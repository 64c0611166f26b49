/** `siglatch send A --then B …` and `siglatch session`: several commands in one session. */
import assert from "node:assert/strict";
import { aliceOptions, makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { ClientSession } from "../../src/client/session.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";
import { splitThen } from "../../src/cli/batch.ts";

Deno.test("send --then: three commands in one session, each result reported on its own", async () => {
  const fx = await makeFixture({
    scripts: { "echo.sh": 'printf "got:%s" "$(cat)"' },
    actions: [
      { id: 10, name: "echo", type: "exec", command: ["$DIR/echo.sh"], reply: true },
      { id: 11, name: "forbidden", type: "builtin", builtin: "ping" },
    ],
    aliceActions: ["echo"],
  });
  const d = await startDaemon(fx.config);
  try {
    const r = await runCli([
      "send",
      "-p",
      fx.profile,
      "ping",
      "--then",
      "echo",
      "hello there",
      "--then",
      "list_actions",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.deepEqual(lines.map((l) => l.status), ["ok", "ok", "ok"]);
    assert.equal(lines[0].data, "pong");
    assert.equal(lines[1].out, "got:hello there");
    assert.ok(Array.isArray(lines[2].data));
    // one handshake: the daemon logged one session (info), and the exec command in it (info;
    // builtins in a session are logged at debug level)
    const opened = d.records().filter((x) => x.decision === "session");
    assert.equal(opened.length, 1);
    const accepted = d.records().filter((x) => x.decision === "accepted");
    assert.deepEqual(accepted.map((x) => x.action), ["echo"]);
    assert.equal(String(accepted[0].request).slice(0, 16), opened[0].session, "in that session");

    // A refused command does not stop the rest; --stop-on-error does.
    const s = await runCli(["session", "-p", fx.profile], {
      stdin: "ping\n# a comment\n\nforbidden\necho again\n",
    });
    assert.equal(s.code, 1, s.stderr);
    assert.match(s.stdout, /--- \[1\] ping\npong\n--- \[2\] forbidden\n--- \[3\] echo\ngot:again/);
    assert.match(s.stderr, /denied: action_not_allowed/);
    const stop = await runCli(["session", "-p", fx.profile, "--stop-on-error"], {
      stdin: "ping\nforbidden\necho never\n",
    });
    assert.equal(stop.code, 1);
    assert.doesNotMatch(stop.stdout, /never|\[3\]/);
    // The first command refused: reported, the session opens with the next one.
    const first = await runCli(["send", "-p", fx.profile, "forbidden", "--then", "ping"]);
    assert.equal(first.code, 1);
    assert.match(first.stdout, /--- \[2\] ping\npong/);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("session over UDP: another socket gets no result; a client that moved proves its new port", async () => {
  const fx = await makeFixture();
  const d = await startDaemon(fx.config);
  try {
    const opened = await ClientSession.open(aliceOptions(fx, {
      retries: 1,
    }));
    assert.ok(opened.ok);
    const s = opened.session;
    const r = await s.run(1);
    assert.equal(r.status, ReplyStatus.Ok);
    assert.equal(r.body?.data, "pong");
    // the next command's datagram, sealed right, sent from another port: no result, at most
    // a prove message no larger than the datagram
    const other = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const { encodeCommand, SessionC2S } = await import("../../src/wire/session.ts");
      const d1 = s.sealRaw(encodeCommand({
        kind: SessionC2S.Command,
        cmd: 99,
        actionId: 1,
        seq: 0,
        payload: new Uint8Array(),
      }));
      await other.send(d1, { transport: "udp", hostname: "127.0.0.1", port: fx.port });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const got = await Promise.race([
        other.receive(),
        new Promise<null>((res) => timer = setTimeout(() => res(null), 700)),
      ]);
      clearTimeout(timer);
      assert.ok(got !== null && got[0].length <= d1.length, "a small prove message");
    } finally {
      other.close();
    }
    assert.equal(d.records().filter((x) => x.decision === "session_moved").length, 0);
    // the session still works from its own socket
    assert.equal((await s.run(1)).status, ReplyStatus.Ok);
    // a new local port (as after a NAT rebinding): the next command proves it and runs
    s.rebind();
    const moved = await s.run(1);
    assert.equal(moved.status, ReplyStatus.Ok, JSON.stringify(moved));
    // The log line may reach us after the answer does (another pipe): wait for it, then count.
    await d.waitFor(/"decision":"session_moved"/);
    assert.equal(d.records().filter((x) => x.decision === "session_moved").length, 1);
    await s.close();
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("send --then: argument splitting", () => {
  assert.deepEqual(splitThen([]), { payload: undefined, then: [] });
  assert.deepEqual(splitThen(["p", "--then", "b", "--then", "c", "x y"]), {
    payload: "p",
    then: [{ action: "b", payload: undefined }, { action: "c", payload: "x y" }],
  });
  assert.throws(() => splitThen(["a", "b"]), /one payload per action/);
  assert.throws(() => splitThen(["--bogus"]), /unknown option --bogus/);
  assert.throws(() => splitThen(["--then"]), /needs an action/);
});

Deno.test("send --follow: output larger than a datagram is printed whole, as it arrives", async () => {
  const fx = await makeFixture({
    actions: [{
      id: 10,
      name: "count",
      type: "exec",
      command: ["/usr/bin/seq", "1", "40000"],
      output_cap: 1 << 20,
    }],
    aliceActions: ["count"],
  });
  const d = await startDaemon(fx.config);
  try {
    let want = "";
    for (let i = 1; i <= 40000; i++) want += `${i}\n`;
    const r = await runCli(["send", "-p", fx.profile, "count", "--follow"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, want.length);
    assert.equal(r.stdout, want);
    // without --follow the reply is one datagram: cut, and said so
    const cut = await runCli(["send", "-p", fx.profile, "count"]);
    assert.ok(cut.stdout.length < 1200);
    assert.match(cut.stderr, /output truncated/);
    // --then without --follow: the streamed output is joined and printed with its result
    const batch = await runCli(["send", "-p", fx.profile, "ping", "--then", "count"]);
    assert.equal(batch.code, 0, batch.stderr);
    assert.equal(batch.stdout, `--- [1] ping\npong\n--- [2] count\n${want}`);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("send --follow: progress lines become plain progress lines on stderr (no terminal)", async () => {
  const fx = await makeFixture({
    scripts: {
      "work.sh": 'printf "SIGLATCH-PROGRESS 1/2 step one\\nresult\\nSIGLATCH-PROGRESS 2/2\\n"\n' +
        "seq 1 3000",
    },
    actions: [{ id: 10, name: "work", type: "exec", command: ["$DIR/work.sh"] }],
    aliceActions: ["work"],
  });
  const d = await startDaemon(fx.config);
  try {
    let nums = "";
    for (let i = 1; i <= 3000; i++) nums += `${i}\n`;
    const r = await runCli(["send", "-p", fx.profile, "work", "--follow"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `result\n${nums}`, "the progress lines are not in the output");
    assert.match(r.stderr, /^progress 1\/2 step one\nprogress 2\/2\n/m);
    // without --follow nothing is filtered (and the reply is cut to one datagram)
    const plain = await runCli(["send", "-p", fx.profile, "work"]);
    assert.match(plain.stdout, /^SIGLATCH-PROGRESS 1\/2 step one\nresult\n/);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

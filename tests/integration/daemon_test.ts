/**
 * The daemon end to end: a real `siglatch serve` subprocess over loopback UDP.
 */
import assert from "node:assert/strict";
import {
  aliceOptions,
  aliceRequest,
  type DaemonProcess,
  type Fixture,
  makeFixture,
  runCli,
  startDaemon,
} from "../_helpers/daemon.ts";
import { isRoot, skipUnlessRoot } from "../_helpers/system.ts";
import { ReplyStatus, sealRequest } from "../../src/wire/mod.ts";
import { replyOutput } from "../../src/wire/reply_body.ts";
import { sendRequest } from "../../src/client/send.ts";

async function withDaemon(
  fx: Fixture,
  fn: (d: DaemonProcess) => Promise<void>,
  args: string[] = [],
): Promise<void> {
  const d = await startDaemon(fx.config, args);
  try {
    await fn(d);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
}

/** Sends raw bytes from a fresh socket and reports whether anything came back in `ms`. */
async function sendRaw(port: number, data: Uint8Array, ms: number): Promise<Uint8Array | null> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await conn.send(data, { transport: "udp", hostname: "127.0.0.1", port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      conn.receive().then(([d]) => d),
      new Promise<null>((res) => timer = setTimeout(() => res(null), ms)),
    ]);
    clearTimeout(timer);
    return r;
  } finally {
    conn.close();
  }
}

Deno.test("ping builtin round trip, through the CLI client and in-process", async () => {
  const fx = await makeFixture();
  await withDaemon(fx, async () => {
    const r = await aliceRequest(fx, 1);
    assert.equal(r.answered, true);
    assert.equal(r.status, ReplyStatus.Ok);
    assert.equal(r.body?.data, "pong");
    const cli = await runCli(["send", "--profile", fx.profile, "ping"]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout.trim(), "pong");
    const json = await runCli(["send", "--profile", fx.profile, "list_actions", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.status, "ok");
    assert.deepEqual(parsed.data.map((a: { name: string }) => a.name).sort(), [
      "list_actions",
      "ping",
    ]);
  });
});

Deno.test("exec action gets payload on stdin and the documented environment", async () => {
  const fx = await makeFixture({
    scripts: {
      "env.sh": 'echo "stdin=$(cat)"; env | grep -E "^(SIGLATCH_|PATH|HOME|USER)" | sort',
    },
    actions: [{ id: 10, name: "env", type: "exec", command: ["$DIR/env.sh"] }],
    aliceActions: ["env"],
  });
  await withDaemon(fx, async () => {
    const r = await aliceRequest(fx, 10, "hello payload");
    assert.equal(r.status, ReplyStatus.Ok, JSON.stringify(r));
    const out = new TextDecoder().decode(replyOutput(r.body!));
    assert.match(out, /^stdin=hello payload$/m);
    assert.match(out, /^SIGLATCH_USER=alice$/m);
    assert.match(out, /^SIGLATCH_USER_ID=1$/m);
    assert.match(out, /^SIGLATCH_ACTION=env$/m);
    assert.match(out, /^SIGLATCH_SOURCE_IP=127\.0\.0\.1$/m);
    assert.match(out, /^SIGLATCH_SOURCE_PORT=\d+$/m);
    assert.match(out, /^SIGLATCH_REQUEST_ID=[0-9a-f]{32}$/m);
    assert.match(out, new RegExp(`^SIGLATCH_PAYLOAD_B64=${btoa("hello payload")}$`, "m"));
    assert.doesNotMatch(out, /^HOME=/m, "environment must be cleared");
  });
});

Deno.test("ACL: an action the user may not run is refused with a reason", async () => {
  const fx = await makeFixture({
    actions: [{ id: 10, name: "secret", type: "builtin", builtin: "version" }],
  });
  await withDaemon(fx, async (d) => {
    const r = await aliceRequest(fx, 10);
    assert.equal(r.status, ReplyStatus.Denied);
    assert.equal(r.body?.reason, "action_not_allowed");
    const unknown = await aliceRequest(fx, 99);
    assert.equal(unknown.body?.reason, "unknown_action");
    await d.waitFor(/action_not_allowed/);
  });
});

Deno.test("CIDR: user allowed from 127.0.0.2 only; 127.0.0.3 is refused", async () => {
  const fx = await makeFixture({ alice: { allow_cidrs: ["127.0.0.2/32"] } });
  await withDaemon(fx, async () => {
    const ok = await aliceRequest(fx, 1, "", { bind: "127.0.0.2" });
    assert.equal(ok.status, ReplyStatus.Ok);
    const no = await aliceRequest(fx, 1, "", { bind: "127.0.0.3" });
    assert.equal(no.status, ReplyStatus.Denied);
    assert.equal(no.body?.reason, "user_cidr");
  });
});

Deno.test("CIDR: server allow_cidrs drops other sources silently", async () => {
  const fx = await makeFixture({ server: { allow_cidrs: ["127.0.0.5/32"] } });
  await withDaemon(fx, async (d) => {
    const no = await aliceRequest(fx, 1, "", { bind: "127.0.0.3", timeoutMs: 600 });
    assert.equal(no.answered, false);
    await d.waitFor(/server_cidr/);
  });
});

Deno.test("run_as nobody runs the script as uid 65534", {
  ignore: skipUnlessRoot("run_as"),
}, async () => {
  assert.ok(isRoot, "run_as needs root");
  const fx = await makeFixture({
    scripts: { "id.sh": "id -u; id -g" },
    actions: [{ id: 10, name: "who", type: "exec", command: ["$DIR/id.sh"], run_as: "nobody" }],
    aliceActions: ["who"],
  });
  await withDaemon(fx, async () => {
    const r = await aliceRequest(fx, 10);
    assert.equal(r.status, ReplyStatus.Ok, JSON.stringify(r));
    const [uid] = new TextDecoder().decode(replyOutput(r.body!)).trim().split("\n");
    assert.equal(uid, "65534");
  });
});

function processesMatching(pattern: string): string {
  const out = new Deno.Command("pgrep", { args: ["-f", pattern], stdout: "piped" }).outputSync();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("timeout kills the whole process tree, background jobs included", async () => {
  const marker = `${Math.floor(Math.random() * 1e6) + 1000}.5`;
  const fx = await makeFixture({
    scripts: { "hang.sh": `sleep ${marker} & sleep ${marker}` },
    actions: [{ id: 10, name: "hang", type: "exec", command: ["$DIR/hang.sh"], timeout: "700ms" }],
    aliceActions: ["hang"],
  });
  await withDaemon(fx, async () => {
    const r = await aliceRequest(fx, 10, "", { timeoutMs: 5000 });
    assert.equal(r.status, ReplyStatus.Error);
    assert.equal(r.body?.reason, "timeout");
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(processesMatching(`sleep ${marker}`), "", "no process may be left");
  });
});

Deno.test("output is capped and flagged as truncated", async () => {
  const fx = await makeFixture({
    scripts: { "big.sh": "head -c 5000 /dev/zero | tr '\\0' x" },
    actions: [{ id: 10, name: "big", type: "exec", command: ["$DIR/big.sh"], output_cap: 100 }],
    aliceActions: ["big"],
  });
  await withDaemon(fx, async () => {
    const r = await aliceRequest(fx, 10);
    assert.equal(r.status, ReplyStatus.Ok, JSON.stringify(r));
    const out = new TextDecoder().decode(replyOutput(r.body!));
    assert.equal(out, "x".repeat(100));
    assert.equal(r.body?.cut, true);
    assert.equal(r.truncated, true);
  });
});

Deno.test("a reply is never larger than the request that caused it", async () => {
  const fx = await makeFixture({
    scripts: { "big.sh": "head -c 5000 /dev/zero | tr '\\0' y" },
    actions: [{ id: 10, name: "big", type: "exec", command: ["$DIR/big.sh"] }],
    aliceActions: ["big"],
  });
  await withDaemon(fx, async () => {
    const sealed = sealRequest(fx.serverPublic, { kind: "hmac", key: fx.aliceKey }, {
      type: "request",
      userId: 1,
      actionId: 10,
    });
    const reply = await sendRaw(fx.port, sealed.datagram, 3000);
    assert.ok(reply, "a reply is expected");
    assert.ok(
      reply.length <= sealed.datagram.length,
      `${reply.length} > ${sealed.datagram.length}`,
    );
    const opened = sealed.reply.open(reply);
    assert.ok(opened.ok);
    assert.equal(opened.reply.truncated, true);
  });
});

Deno.test("a full action queue refuses with busy instead of queueing without bound", async () => {
  const fx = await makeFixture({
    scripts: { "slow.sh": "sleep 1.5; echo done" },
    actions: [{ id: 10, name: "slow", type: "exec", command: ["$DIR/slow.sh"] }],
    aliceActions: ["slow"],
    top: { execution: { max_concurrent: 1, queue: 0 } },
  });
  await withDaemon(fx, async () => {
    const first = aliceRequest(fx, 10, "", { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    const second = await aliceRequest(fx, 10, "", { timeoutMs: 3000 });
    assert.equal(second.status, ReplyStatus.Busy);
    assert.equal(second.body?.reason, "busy");
    const r1 = await first;
    assert.equal(r1.status, ReplyStatus.Ok);
  });
});

Deno.test("a replayed datagram is rejected, also after a daemon restart", async () => {
  const fx = await makeFixture();
  const sealed = sealRequest(fx.serverPublic, { kind: "hmac", key: fx.aliceKey }, {
    type: "request",
    userId: 1,
    actionId: 1,
  });
  const d1 = await startDaemon(fx.config);
  try {
    assert.ok(await sendRaw(fx.port, sealed.datagram, 2000), "first copy is answered");
    // At once it is an exact copy, dropped before opening (src/policy/recent_copies.ts)…
    assert.equal(await sendRaw(fx.port, sealed.datagram, 700), null, "copy is not answered");
    // …after the 2 s copy window it is opened and refused by the replay guard, and logged.
    await new Promise((r) => setTimeout(r, 1400));
    assert.equal(await sendRaw(fx.port, sealed.datagram, 700), null, "replay is not answered");
    await d1.waitFor(/"reason":"replay"/);
  } finally {
    assert.equal(await d1.stop(), 0);
  }
  const d2 = await startDaemon(fx.config);
  try {
    assert.equal(await sendRaw(fx.port, sealed.datagram, 700), null, "replay after restart");
    await d2.waitFor(/"reason":"replay"/);
    const fresh = await aliceRequest(fx, 1);
    assert.equal(fresh.status, ReplyStatus.Ok, "a fresh request still works");
  } finally {
    await d2.stop();
    await fx.cleanup();
  }
});

Deno.test("garbage datagrams get no reply", async () => {
  const fx = await makeFixture();
  await withDaemon(fx, async (d) => {
    for (const size of [1, 64, 200, 1200]) {
      const junk = crypto.getRandomValues(new Uint8Array(size));
      assert.equal(await sendRaw(fx.port, junk, size === 1200 ? 1000 : 200), null);
    }
    await d.waitFor(/rejected/);
    assert.equal((await aliceRequest(fx, 1)).status, ReplyStatus.Ok);
  });
});

Deno.test("a dead drop hands a raw datagram to its handler", async () => {
  const fx = await makeFixture({
    // The handler runs as an unprivileged user: it writes where anyone may.
    scripts: { "drop.sh": 'cat > "$0.d/out"; echo "$SIGLATCH_DEADDROP" >> "$0.d/out"' },
    actions: [{ id: 10, name: "collect", type: "exec", command: ["$DIR/drop.sh"] }],
    server: { deaddrops: true },
    top: { deaddrops: [{ name: "inbox", prefix: "DROP:", handler: "collect" }] },
  });
  await Deno.mkdir(`${fx.dir}/drop.sh.d`, { mode: 0o777 });
  await Deno.chmod(`${fx.dir}/drop.sh.d`, 0o777);
  await withDaemon(fx, async (d) => {
    await sendRaw(fx.port, new TextEncoder().encode("DROP:the message"), 100);
    await d.waitFor(/deaddrop=inbox/);
    let text = "";
    for (let i = 0; i < 50 && !text.includes("inbox"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = await Deno.readTextFile(`${fx.dir}/drop.sh.d/out`).catch(() => "");
    }
    assert.equal(text, "DROP:the messageinbox\n");
  });
});

Deno.test("SIGTERM lets a running action finish, then exits 0", async () => {
  const fx = await makeFixture({
    scripts: { "work.sh": 'sleep 1; touch "$0.done"' },
    writable: true,
    actions: [{ id: 10, name: "work", type: "exec", command: ["$DIR/work.sh"] }],
    aliceActions: ["work"],
  });
  const d = await startDaemon(fx.config);
  try {
    const pending = aliceRequest(fx, 10, "", { timeoutMs: 3000 });
    await d.waitFor(/accepted user=alice action=work/);
    const code = await d.stop("SIGTERM");
    assert.equal(code, 0);
    await Deno.stat(`${fx.dir}/work.sh.done`);
    await pending;
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("a payload larger than one datagram travels as fragments and is reassembled", async () => {
  const fx = await makeFixture({
    scripts: { "sum.sh": "wc -c" },
    actions: [{ id: 10, name: "sum", type: "exec", command: ["$DIR/sum.sh"], max_payload: 20000 }],
    aliceActions: ["sum"],
  });
  await withDaemon(fx, async (d) => {
    const big = "z".repeat(9000);
    const r = await aliceRequest(fx, 10, big, { timeoutMs: 3000 });
    assert.equal(r.status, ReplyStatus.Ok, JSON.stringify(r));
    assert.equal(new TextDecoder().decode(replyOutput(r.body!)).trim(), "9000");
    // The same through the CLI, payload from stdin.
    const cli = await runCli(["send", "--profile", fx.profile, "sum", "--stdin"], {
      stdin: "y".repeat(5000),
    });
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout.trim(), "5000");
    await d.waitFor(/accepted user=alice action=sum/);
  });
});

Deno.test("challenge-response: the client answers a cookie, and a proven address may get a larger reply", async () => {
  const fx = await makeFixture({
    scripts: { "big.sh": "awk 'BEGIN { while (i++ < 800) printf \"c\" }'" },
    actions: [
      { id: 10, name: "big", type: "exec", command: ["$DIR/big.sh"], require_challenge: true },
      { id: 11, name: "big_plain", type: "exec", command: ["$DIR/big.sh"] },
    ],
    aliceActions: ["big", "big_plain"],
  });
  await withDaemon(fx, async (d) => {
    const small = { timeoutMs: 2000 };
    const sendSmall = (actionId: number) =>
      sendRequest(aliceOptions(fx, {
        actionId,
        timeoutMs: small.timeoutMs,
        padTo: 300,
      }));
    const plain = await sendSmall(11);
    assert.equal(plain.status, ReplyStatus.Ok);
    assert.equal(plain.truncated, true, "an unproven 300-byte request gets at most 300 bytes back");
    const challenged = await sendSmall(10);
    assert.equal(challenged.status, ReplyStatus.Ok, JSON.stringify(challenged));
    assert.equal(new TextDecoder().decode(replyOutput(challenged.body!)), "c".repeat(800));
    assert.equal(challenged.truncated, false);
    await d.waitFor(/accepted user=alice action=big /);
  });
});

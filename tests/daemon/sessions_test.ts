import assert from "node:assert/strict";
import { ReplyStatus, RequestFlag, sealRequest } from "../../src/wire/mod.ts";
import { decodeReplyBody } from "../../src/wire/reply_body.ts";
import {
  deriveSessionKeys,
  encodeCommand,
  openSession,
  parseAnswer,
  sealSession,
  SessionC2S,
  type SessionKeys,
  SessionS2C,
} from "../../src/wire/session.ts";
import { REPLAY_WINDOW } from "../../src/wire/replay_window.ts";
import { x25519Stats } from "../../src/crypto/keys.ts";
import { CLIENT, type InProcess, inProcess } from "./_inprocess.ts";

/** A session opened in process: its id, keys and a sealer of commands. */
interface Opened {
  id: bigint;
  keys: SessionKeys;
  counter: number;
}

/** Seals a session-opening request from alice for `actionId`. */
function sealOpen(p: InProcess, actionId = 1, userId = 1) {
  return sealRequest(p.fx.serverPublic, { kind: "hmac", key: p.fx.aliceKey }, {
    type: "request",
    userId,
    actionId,
    flags: RequestFlag.Session,
  }, { padTo: 1200 });
}

/** Opens a session from `from`; the reply must carry its id. */
async function openSessionIn(p: InProcess, from = CLIENT): Promise<Opened> {
  const req = sealOpen(p);
  const before = p.channel.sent.length;
  await p.deliver(req.datagram, from);
  const got = await p.replies(before + 1);
  const r = req.reply.open(got[before]);
  assert.ok(r.ok, "the opening reply opens with the request's reply key");
  assert.equal(r.reply.status, ReplyStatus.Ok);
  const data = decodeReplyBody(r.reply.body).data as { session: string };
  assert.match(data.session, /^[0-9a-f]{16}$/);
  const id = BigInt(`0x${data.session}`);
  return { id, keys: deriveSessionKeys(req.reply.exportKey(), id), counter: 0 };
}

function command(s: Opened, cmd: number, actionId: number, counter = s.counter++): Uint8Array {
  const inner = encodeCommand({
    kind: SessionC2S.Command,
    cmd,
    actionId,
    seq: 0,
    payload: new Uint8Array(),
  });
  return sealSession(s.keys.c2s, s.id, counter, inner);
}

function answerOf(s: Opened, datagram: Uint8Array) {
  const inner = openSession(s.keys.s2c, datagram);
  assert.ok(inner, "the answer opens with the server-to-client key");
  const a = parseAnswer(inner);
  assert.ok(a);
  return { ...a, body: decodeReplyBody(a.body) };
}

/** Delivers and waits until the pipeline's work for it is done. */
async function deliver(p: InProcess, d: Uint8Array, from = CLIENT): Promise<void> {
  await p.deliver(d, from);
}

Deno.test("sessions: a batch of 3 costs the server one X25519; each command gets its result", async () => {
  const p = await inProcess();
  try {
    const req = sealOpen(p); // the client's own X25519 happens here, before counting
    const before = x25519Stats.operations;
    await deliver(p, req.datagram);
    const [reply] = await p.replies(1);
    const r = req.reply.open(reply);
    assert.ok(r.ok);
    const data = decodeReplyBody(r.reply.body).data as { session: string };
    const id = BigInt(`0x${data.session}`);
    const s: Opened = { id, keys: deriveSessionKeys(req.reply.exportKey(), id), counter: 0 };
    for (const [cmd, action] of [[1, 1], [2, 2], [3, 1]]) {
      await deliver(p, command(s, cmd, action));
    }
    const got = await p.replies(4);
    assert.equal(got.length, 4);
    assert.equal(x25519Stats.operations - before, 1, "one X25519 for the handshake, none after");
    const answers = got.slice(1).map((d) => answerOf(s, d));
    assert.deepEqual(answers.map((a) => a.cmd), [1, 2, 3]);
    assert.ok(answers.every((a) => a.status === ReplyStatus.Ok));
    assert.equal(answers[0].body.data, "pong");
    assert.equal(answers[2].body.data, "pong");
    assert.ok(Array.isArray(answers[1].body.data), "list_actions answers a list");
    assert.equal(p.daemon.counters.session_commands, 3);
    assert.equal(p.daemon.counters.sessions_opened, 1);
    // The opening request ran nothing.
    assert.equal(p.daemon.counters.accepted, 3);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("sessions: a replayed datagram and an out-of-window counter get silence; a retry gets the kept answer", async () => {
  const p = await inProcess();
  try {
    const s = await openSessionIn(p);
    const first = command(s, 1, 1);
    await deliver(p, first);
    await p.replies(2);
    assert.equal(p.channel.sent.length, 2);
    // The same bytes again: silence, the action does not run again.
    await deliver(p, first);
    // Far ahead, then one behind the window: the second is silence.
    await deliver(p, command(s, 2, 1, REPLAY_WINDOW + 100));
    await p.replies(3);
    assert.equal(p.channel.sent.length, 3);
    await deliver(p, command(s, 3, 1, 50));
    // A forged datagram (right id, wrong key) is silence too.
    const forged = sealSession(
      new Uint8Array(32),
      s.id,
      REPLAY_WINDOW + 101,
      encodeCommand({
        kind: SessionC2S.Command,
        cmd: 4,
        actionId: 1,
        seq: 0,
        payload: new Uint8Array(),
      }),
    );
    await deliver(p, forged);
    await p.replies(4, 300);
    assert.equal(
      p.channel.sent.length,
      3,
      "no answer to the replay, the old counter or the forgery",
    );
    assert.equal(p.daemon.counters.drop_session_replay, 2);
    assert.equal(p.daemon.counters.drop_session_decrypt_failed, 1);
    // A retry of command 2 (same number, new counter) is answered from the kept result.
    await deliver(p, command(s, 2, 1, REPLAY_WINDOW + 102));
    const got = await p.replies(4);
    assert.equal(answerOf(s, got[3]).cmd, 2);
    assert.equal(p.daemon.counters.session_retries, 1);
    assert.equal(p.daemon.counters.session_commands, 2, "the retry did not run the action");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("sessions: from another address nothing runs; only a cookie round trip moves a session", async () => {
  const p = await inProcess();
  try {
    const s = await openSessionIn(p);
    const moved = { ...CLIENT, port: CLIENT.port + 1 };
    const sizeBefore = p.channel.sent.length;
    const roaming = command(s, 1, 1);
    await deliver(p, roaming, moved);
    await deliver(p, command(s, 2, 1), { ...CLIENT, hostname: "127.0.0.9" }); // within 250 ms
    await p.replies(3, 300);
    assert.equal(p.daemon.counters.drop_session_roam, 2);
    assert.equal(p.daemon.counters.session_commands, undefined, "nothing ran");
    assert.equal(p.channel.sent.length, sizeBefore + 1, "one prove message, rate-limited");
    const prove = p.channel.sent[sizeBefore];
    assert.equal(prove.to.port, moved.port, "sent to the new address");
    assert.ok(prove.datagram.length <= roaming.length, "no more bytes than the datagram had");
    const a = parseAnswer(openSession(s.keys.s2c, prove.datagram)!)!;
    assert.equal(a.kind, SessionS2C.Prove);
    const migrate = (cookie: Uint8Array) =>
      sealSession(
        s.keys.c2s,
        s.id,
        s.counter++,
        encodeCommand({ kind: SessionC2S.Migrate, cmd: 1, actionId: 0, seq: 0, payload: cookie }),
      );
    // a wrong cookie, or the right one from yet another port: not moved (each may get a
    // prove message of its own, never a result)
    await deliver(p, migrate(new Uint8Array(16)), moved);
    await deliver(p, migrate(a.body), { ...CLIENT, port: CLIENT.port + 2 });
    assert.equal(p.daemon.counters.sessions_moved, undefined);
    const last = () => p.channel.sent[p.channel.sent.length - 1];
    const waitFor = async (n: number) => {
      await p.replies(n);
      assert.equal(p.channel.sent.length, n);
    };
    // the session still works from its own address meanwhile
    let n = p.channel.sent.length;
    await deliver(p, command(s, 3, 1));
    await waitFor(n + 1);
    assert.equal(answerOf(s, last().datagram).cmd, 3);
    assert.equal(answerOf(s, last().datagram).kind, SessionS2C.Result);
    // the cookie from the address it was sent to: moved
    await deliver(p, migrate(a.body), moved);
    assert.equal(p.daemon.counters.sessions_moved, 1);
    n = p.channel.sent.length;
    await deliver(p, command(s, 4, 1), moved);
    await waitFor(n + 1);
    assert.equal(answerOf(s, last().datagram).cmd, 4);
    assert.equal(last().to.port, moved.port);
    // and the old address is now the stranger: nothing runs from there
    await deliver(p, command(s, 5, 1));
    await p.replies(n + 3, 300);
    assert.equal(p.daemon.counters.session_commands, 2);
    assert.equal(p.daemon.counters.drop_session_roam, 5);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("sessions: disabling the user or the action mid-session refuses the next command", async () => {
  const p = await inProcess();
  try {
    const s = await openSessionIn(p);
    await deliver(p, command(s, 1, 1));
    await p.replies(2);
    p.daemon.overrides.disable("actions", "ping");
    await deliver(p, command(s, 2, 1));
    let got = await p.replies(3);
    let a = answerOf(s, got[2]);
    assert.equal(a.status, ReplyStatus.Denied);
    assert.equal(a.body.reason, "action_disabled");
    p.daemon.overrides.enable("actions", "ping");
    p.daemon.overrides.disable("users", "alice");
    await deliver(p, command(s, 3, 1));
    got = await p.replies(4);
    a = answerOf(s, got[3]);
    assert.equal(a.status, ReplyStatus.Denied);
    assert.equal(a.body.reason, "user_disabled");
    p.daemon.overrides.enable("users", "alice");
    await deliver(p, command(s, 4, 1));
    got = await p.replies(5);
    assert.equal(answerOf(s, got[4]).status, ReplyStatus.Ok);
    assert.equal(p.daemon.counters.session_commands, 2);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("sessions: idle time-out, lifetime and message count end a session", async () => {
  let now = Date.now();
  const p = await inProcess(
    { top: { limits: { sessions: { idle: "10s", lifetime: "60s", max_messages: 8 } } } },
    { clock: () => now },
  );
  try {
    // idle
    let s = await openSessionIn(p);
    now += 11_000;
    await deliver(p, command(s, 1, 1));
    await p.replies(2, 200);
    assert.equal(p.channel.sent.length, 1);
    assert.equal(p.daemon.counters.drop_session_ended, 1);
    // lifetime: busy all along (never idle for 10 s), still ends after 60 s
    now = Date.now();
    s = await openSessionIn(p);
    for (let cmd = 1; cmd <= 6; cmd++) {
      now += 9_000;
      await deliver(p, command(s, cmd, 1));
    }
    assert.equal((await p.replies(8)).length, 8, "answered up to 54 s");
    now += 9_000;
    await deliver(p, command(s, 7, 1));
    await p.replies(9, 200);
    assert.equal(p.channel.sent.length, 8, "past its lifetime (63 s, idle 9 s): silence");
    // max_messages 8: the ninth datagram is silence
    now = Date.now();
    s = await openSessionIn(p);
    for (let cmd = 1; cmd <= 9; cmd++) await deliver(p, command(s, cmd, 1));
    await p.replies(18, 300);
    assert.equal(p.channel.sent.length, 17, "opening reply + 8 answers");
    assert.equal(p.daemon.sessionPath.table.size, 0);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("sessions: a full table refuses new sessions and keeps the open ones", async () => {
  const p = await inProcess({
    top: { limits: { sessions: { max: 3, per_user: 2 } } },
    users: [{ id: 2, name: "bob", hmac_key_file: "alice.hmac", actions: ["ping"] }],
  });
  try {
    const a1 = await openSessionIn(p);
    await openSessionIn(p, { ...CLIENT, port: 40001 });
    // alice's third: refused (busy), nothing evicted
    let req = sealOpen(p);
    await deliver(p, req.datagram, { ...CLIENT, port: 40002 });
    let got = await p.replies(3);
    let r = req.reply.open(got[2]);
    assert.ok(r.ok);
    assert.equal(r.reply.status, ReplyStatus.Busy);
    assert.equal(decodeReplyBody(r.reply.body).reason, "sessions_user_full");
    // bob fills the table; a fourth (bob's second) is refused: the table is full
    req = sealOpen(p, 1, 2);
    await deliver(p, req.datagram, { ...CLIENT, port: 40003 });
    got = await p.replies(4);
    assert.equal(req.reply.open(got[3]).ok, true);
    req = sealOpen(p, 1, 2);
    await deliver(p, req.datagram, { ...CLIENT, port: 40004 });
    got = await p.replies(5);
    r = req.reply.open(got[4]);
    assert.ok(r.ok);
    assert.equal(decodeReplyBody(r.reply.body).reason, "sessions_full");
    // the first session still answers
    await deliver(p, command(a1, 1, 1));
    got = await p.replies(6);
    assert.equal(answerOf(a1, got[5]).status, ReplyStatus.Ok);
    // a client close frees its slot
    const close = sealSession(
      a1.keys.c2s,
      a1.id,
      a1.counter++,
      encodeCommand({
        kind: SessionC2S.Close,
        cmd: 0,
        actionId: 0,
        seq: 0,
        payload: new Uint8Array(),
      }),
    );
    await deliver(p, close);
    assert.equal(p.daemon.sessionPath.table.size, 2);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

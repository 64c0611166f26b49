import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ReplyStatus, sealRequest } from "../../src/wire/mod.ts";
import { decodeReplyBody } from "../../src/wire/reply_body.ts";
import { CLIENT, inProcess } from "./_inprocess.ts";

Deno.test("in-process pipeline: a ping is answered once; its replay and garbage get nothing", async () => {
  let now = Date.now();
  const p = await inProcess({}, { clock: () => now });
  try {
    const req = p.seal(1);
    p.deliver(req.datagram);
    const [reply] = await p.replies(1);
    const opened = req.reply.open(reply);
    assert.ok(opened.ok, "the reply opens with the request's key");
    assert.equal(opened.reply.status, ReplyStatus.Ok);
    assert.equal(decodeReplyBody(opened.reply.body).data, "pong");
    assert.equal(p.channel.sent[0].to.port, CLIENT.port, "answered to the sender");

    // The same bytes again at once, from the same and from another source: dropped as
    // copies before any open.
    p.deliver(req.datagram);
    p.deliver(req.datagram, { transport: "udp", hostname: "127.0.0.9", port: 1234 });
    assert.equal(p.daemon.counters.drop_copy, 2);
    // Three seconds later (past the copy window, inside the time window): opened, refused
    // by the replay guard.
    now += 3000;
    p.deliver(req.datagram);
    now += 3000;
    p.deliver(req.datagram, { transport: "udp", hostname: "127.0.0.9", port: 1234 });
    // Garbage of the same size from a spoofed source: silence.
    p.deliver(new Uint8Array(randomBytes(1200)), {
      transport: "udp",
      hostname: "127.0.0.7",
      port: 999,
    });
    await p.replies(2, 300);
    assert.equal(p.channel.sent.length, 1, "nothing but the first reply went out");
    assert.equal(p.daemon.counters.drop_replay, 2);
    assert.equal(p.daemon.counters.accepted, 1);
    assert.equal(p.daemon.counters.dropped, 3);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("in-process pipeline: an action the user may not run is refused, and explained", async () => {
  const p = await inProcess({
    actions: [{ id: 10, name: "deploy", type: "exec", command: ["/bin/true"] }],
  });
  try {
    const req = p.seal(10);
    p.deliver(req.datagram);
    const [reply] = await p.replies(1);
    const opened = req.reply.open(reply);
    assert.ok(opened.ok);
    assert.equal(opened.reply.status, ReplyStatus.Denied);
    assert.equal(decodeReplyBody(opened.reply.body).reason, "action_not_allowed");
    assert.equal(p.daemon.counters.accepted, undefined);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

Deno.test("in-process pipeline: a runtime-disabled server answers nothing", async () => {
  const p = await inProcess();
  try {
    p.daemon.overrides.disable("servers", "main");
    p.deliver(p.seal(1).datagram);
    await p.replies(1, 300);
    assert.equal(p.channel.sent.length, 0);
    assert.equal(p.daemon.counters.drop_server_disabled, 1);
    p.daemon.overrides.enable("servers", "main");
    p.deliver(p.seal(1).datagram);
    assert.equal((await p.replies(1)).length, 1);
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

/** A datagram anyone with the public key can make: mac1 passes, authentication fails. */
function mac1Valid(serverPublic: Uint8Array): Uint8Array {
  return sealRequest(serverPublic, { kind: "hmac", key: new Uint8Array(32).fill(3) }, {
    type: "request",
    userId: 1,
    actionId: 1,
  }, { now: Date.now(), padTo: 1200 }).datagram;
}

const spoofed = (i: number): Deno.NetAddr => ({
  transport: "udp",
  hostname: `10.0.${i >> 8}.${i & 255}`,
  port: 1000 + i,
});

Deno.test("in-process pipeline through open workers: a ping is answered, its replay is not", async () => {
  let now = Date.now();
  const p = await inProcess({ top: { limits: { open_workers: 2 } } }, { clock: () => now }, true);
  try {
    const req = p.seal(1);
    await p.deliver(req.datagram);
    const [reply] = await p.replies(1);
    const opened = req.reply.open(reply);
    assert.ok(opened.ok);
    assert.equal(decodeReplyBody(opened.reply.body).data, "pong");
    now += 3000; // past the copy window: the replay is opened and refused
    await p.deliver(req.datagram);
    assert.equal(p.channel.sent.length, 1);
    assert.equal(p.daemon.counters.drop_replay, 1);
    const status = p.daemon.statusExtras().open_pool as { opened: number };
    assert.ok(status.opened >= 2, "the workers opened them");
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
});

async function queueCase(underLoad: boolean): Promise<void> {
  const p = await inProcess(
    {
      top: {
        limits: { open_workers: 1, open_queue: 16 },
        rate_limit: { pressure_fail_rate: 100_000 },
      },
      server: { challenge_under_load: underLoad },
    },
    {},
    true,
  );
  try {
    const jobs: (void | Promise<void>)[] = [];
    for (let i = 0; i < 200; i++) jobs.push(p.deliver(mac1Valid(p.fx.serverPublic), spoofed(i)));
    await Promise.all(jobs);
    const c = p.daemon.counters;
    if (underLoad) {
      // A deep queue is load: the rest get cookie replies, no worker time, no drop.
      assert.ok((c.cookie_gate ?? 0) > 0, JSON.stringify(c));
      assert.equal(c.drop_open_queue_full, undefined);
    } else {
      // Without the cookie gate the queue's bound drops them.
      assert.ok((c.drop_open_queue_full ?? 0) > 0, JSON.stringify(c));
      assert.equal(c.cookie_gate, undefined);
    }
  } finally {
    await p.close();
    await p.fx.cleanup();
  }
}

Deno.test(
  "limits.open_queue bounds the waiting datagrams; challenge_under_load false",
  () => queueCase(false),
);

Deno.test(
  "limits.open_queue bounds the waiting datagrams; challenge_under_load true",
  () => queueCase(true),
);

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ReplyStatus } from "../../src/wire/mod.ts";
import { decodeReplyBody } from "../../src/wire/reply_body.ts";
import { CLIENT, inProcess } from "./_inprocess.ts";

Deno.test("in-process pipeline: a ping is answered once; its replay and garbage get nothing", async () => {
  const p = await inProcess();
  try {
    const req = p.seal(1);
    p.deliver(req.datagram);
    const [reply] = await p.replies(1);
    const opened = req.reply.open(reply);
    assert.ok(opened.ok, "the reply opens with the request's key");
    assert.equal(opened.reply.status, ReplyStatus.Ok);
    assert.equal(decodeReplyBody(opened.reply.body).data, "pong");
    assert.equal(p.channel.sent[0].to.port, CLIENT.port, "answered to the sender");

    // The same bytes again, from the same and from another source: silence.
    p.deliver(req.datagram);
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

/**
 * Relay actions with real daemons on 127.0.0.x: a 3-hop chain through the CLI (the final
 * server logs the client's user and the last relay's address), a relay whose path tampers
 * with the sealed datagram (the final server refuses it, the client hears the relay say so),
 * loops (A → A, A → B → A), the relay's own checks (layers, max_hops, the next hop's key,
 * max_pending) and `send --file` through a relay (fragments).
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { runCli, startDaemon } from "../_helpers/daemon.ts";
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
import { sendRequest, type SendResult } from "../../src/client/send.ts";
import { MAX_REQUEST_PAYLOAD } from "../../src/client/payload_file.ts";
import { encodeRelayPayload } from "../../src/wire/relay.ts";
import { Mac1 } from "../../src/wire/mac1.ts";
import { ReplyStatus, sealRequest, SUITE_V2 } from "../../src/wire/mod.ts";

/** Alice's request for `actionId` to `final` through `via`, waiting `timeoutMs`, no retry. */
function viaSend(
  final: Node,
  via: Node[],
  actionId: number,
  payload = new Uint8Array(),
  timeoutMs = 4000,
): Promise<SendResult> {
  return sendRequest(viaOptions(final, via, { actionId, payload, timeoutMs }));
}

Deno.test("relay: a 3-hop chain through the CLI; the final server logs the user and the last relay's address", async () => {
  const c = await node("127.0.0.4", {
    actions: [{ id: 30, name: "wc", type: "exec", command: ["/usr/bin/wc", "-c"] }],
    aliceActions: ["wc"],
  });
  const b = await node("127.0.0.3", {}, c.fx.aliceKey);
  const a = await node("127.0.0.2", {}, c.fx.aliceKey);
  const nodes = [a, b, c];
  try {
    await relayTo(a, b);
    await relayTo(b, c);
    await startAll(nodes);
    // The first hop's relay action by name, the second's by id.
    const profile = await writeViaProfile(c, [[a, "hop"], b], "via", {
      timeout: 4,
      retries: 0,
      actions: { ping: 1, wc: 30, hop: RELAY_ID },
    });
    const ping = await runCli(["send", "-p", profile, "ping"]);
    assert.equal(ping.code, 0, ping.stderr);
    assert.equal(ping.stdout.trim(), "pong");
    const wc = await runCli(["send", "-p", profile, "wc", "through three daemons"]);
    assert.equal(wc.code, 0, wc.stderr);
    assert.equal(wc.stdout.trim(), "21");

    // C ran it for alice (her signature, checked by C) and saw B as the network source.
    await c.d!.waitFor(/accepted user=alice action=wc/);
    const accepted = c.d!.records().filter((r) => r.decision === "accepted");
    assert.deepEqual(
      accepted.map((r) => [r.user, r.action, r.ip]),
      [["alice", "ping", b.ip], ["alice", "wc", b.ip]],
    );
    // Each relay authenticated alice for its relay step itself, from the previous hop.
    const relayed = (n: Node) =>
      n.d!.records().filter((r) => r.decision === "accepted").map((r) => [r.user, r.action, r.ip]);
    assert.deepEqual(relayed(a), [["alice", "hop", "127.0.0.1"], ["alice", "hop", "127.0.0.1"]]);
    assert.deepEqual(relayed(b), [["alice", "hop", a.ip], ["alice", "hop", a.ip]]);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("relay: a relay that tampers is refused by B; the client hears relay_no_reply", async () => {
  const b = await node("127.0.0.3", {});
  const a = await node("127.0.0.2", {}, b.fx.aliceKey);
  // The path between A and B flips one ciphertext byte and even fixes mac1 for B's key.
  const proxy = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.5", port: 0 });
  const proxyPort = (proxy.addr as Deno.NetAddr).port;
  const mac1 = new Mac1(SUITE_V2.mac1Label.secure, b.fx.serverPublic);
  let tampered = 0;
  const pump = (async () => {
    let back: Deno.NetAddr | undefined;
    try {
      for await (const [data, from] of proxy) {
        const src = from as Deno.NetAddr;
        if (src.hostname === b.ip) {
          if (back) await proxy.send(data, back);
          continue;
        }
        back = src;
        const t = data.slice();
        t[40] ^= 1;
        t.set(mac1.compute(t.subarray(0, t.length - 32)), t.length - 32);
        tampered++;
        await proxy.send(t, { transport: "udp", hostname: b.ip, port: b.port });
      }
    } catch {
      // closed
    }
  })();
  const nodes = [a, b];
  try {
    await relayTo(a, `127.0.0.5:${proxyPort}`);
    await startAll(nodes);
    const res = await viaSend(b, [a], 1);
    assert.equal(tampered, 1);
    assert.equal(res.answered, true);
    assert.equal(res.relayHop, 0, "the relay answered, not B");
    assert.equal(res.status, ReplyStatus.Error);
    assert.equal(res.body?.reason, "relay_no_reply");
    await b.d!.waitFor(/rejected reason=decrypt_failed/);
    assert.equal(b.d!.records().filter((r) => r.decision === "accepted").length, 0);
    // Untampered, the same relay works: the refusal came from the flipped byte.
    const direct = await node("127.0.0.6", {}, b.fx.aliceKey);
    nodes.push(direct);
    await relayTo(direct, b);
    direct.d = await startDaemon(direct.fx.config);
    const ok = await viaSend(b, [direct], 1);
    assert.equal(ok.status, ReplyStatus.Ok, JSON.stringify(ok));
    assert.equal(ok.body?.data, "pong");
  } finally {
    proxy.close();
    await pump;
    await stopAll(nodes);
  }
});

Deno.test("relay: loops are refused (A → A, A → B → A), and the relay's own checks hold", async () => {
  const a = await node("127.0.0.2", {});
  const b = await node("127.0.0.3", {}, a.fx.aliceKey);
  const nodes = [a, b];
  // A silent next hop for max_pending (nothing ever answers there).
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.7", port: 0 });
  const silentPort = (silent.addr as Deno.NetAddr).port;
  try {
    await relayTo(a, b, { max_hops: 2 });
    await relayTo(b, a);
    // A second relay action on A, to the silent host, one pending at a time.
    const cfgText = await Deno.readTextFile(a.fx.config);
    const { parse } = await import("yaml");
    const cfg = parse(cfgText) as { actions: unknown[]; users: { actions: unknown[] }[] };
    cfg.actions.push({
      id: 21,
      name: "slow",
      type: "relay",
      relay: { to: `127.0.0.7:${silentPort}`, timeout: "1s", max_pending: 1 },
    });
    cfg.users[0].actions.push("slow");
    await Deno.writeTextFile(a.fx.config, stringify(cfg));
    await startAll(nodes);

    // A → A: the datagram A should forward is for A itself.
    const self = await viaSend(a, [a], 1);
    assert.equal(self.relayHop, 0);
    assert.equal(self.status, ReplyStatus.Denied);
    assert.equal(self.body?.reason, "relay_loop");

    // A → B → A: B would send it back to the host it came from.
    const loop = await viaSend(a, [a, b], 1);
    assert.equal(loop.relayHop, 1, JSON.stringify(loop));
    assert.equal(loop.status, ReplyStatus.Denied);
    assert.equal(loop.body?.reason, "relay_loop");
    await b.d!.waitFor(/rejected reason=relay_loop|accepted user=alice action=hop/);

    // Hand-made layers to A's relay action: the relay checks what it can see.
    const raw = (payload: Uint8Array, actionId = RELAY_ID) =>
      sendRequest({
        host: a.ip,
        port: a.port,
        serverPublic: a.fx.serverPublic,
        userId: 1,
        auth: { kind: "hmac", key: a.fx.aliceKey },
        actionId,
        payload,
        wait: true,
        timeoutMs: 3000,
        retries: 0,
      });
    const forB = () =>
      sealRequest(b.fx.serverPublic, { kind: "hmac", key: a.fx.aliceKey }, {
        type: "request",
        userId: 1,
        actionId: 1,
      }).datagram;
    const bad = await raw(new Uint8Array([9, 0, 0, ...forB()]));
    assert.equal(bad.body?.reason, "relay_bad_payload");
    // max_hops 2: A and one more relay at most; a layer that claims two more is refused.
    const tooMany = await raw(encodeRelayPayload(2, new Uint8Array(600).fill(1)));
    assert.equal(tooMany.body?.reason, "relay_too_many_hops");
    // server_public_key: a datagram sealed to another key than B's is not forwarded.
    const other = sealRequest(new Uint8Array(32).fill(9), { kind: "hmac", key: a.fx.aliceKey }, {
      type: "request",
      userId: 1,
      actionId: 1,
    }).datagram;
    const wrongKey = await raw(encodeRelayPayload(0, other));
    assert.equal(wrongKey.body?.reason, "relay_not_for_target");
    // The right key passes: B answers ping through A.
    const good = await raw(encodeRelayPayload(0, forB()));
    assert.equal(good.status, ReplyStatus.Relayed);

    // max_pending 1 and timeout 1s: while one waits, a second is busy; the first times out.
    const [first, second] = await Promise.all([
      raw(encodeRelayPayload(0, forB()), 21),
      new Promise((r) => setTimeout(r, 300)).then(() => raw(encodeRelayPayload(0, forB()), 21)),
    ]);
    assert.equal(first.body?.reason, "relay_no_reply");
    assert.equal(second.status, ReplyStatus.Busy);
    assert.equal(second.body?.reason, "relay_busy");
  } finally {
    silent.close();
    await stopAll(nodes);
  }
});

Deno.test("relay: send --file (64 KiB) through one relay passes fragments", async () => {
  const b = await node("127.0.0.3", {
    scripts: { "sum.sh": "sha256sum | cut -c1-64" },
    actions: [
      { id: 10, name: "sum", type: "exec", command: ["$DIR/sum.sh"], max_payload: 65536 },
    ],
    aliceActions: ["sum"],
  });
  const a = await node("127.0.0.2", {}, b.fx.aliceKey);
  const nodes = [a, b];
  try {
    await relayTo(a, b, { timeout: "3s" });
    await startAll(nodes);
    const data = new Uint8Array(MAX_REQUEST_PAYLOAD);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13 + (i >> 7)) & 255;
    await Deno.writeFile(`${b.fx.dir}/big.bin`, data);
    const want = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", data)),
      (x) => x.toString(16).padStart(2, "0"),
    ).join("");
    const profile = await writeViaProfile(b, [a], "via", {
      timeout: 5,
      retries: 0,
      actions: { sum: 10 },
    });
    const res = await runCli(["send", "-p", profile, "sum", "--file", `${b.fx.dir}/big.bin`]);
    const why = () =>
      JSON.stringify(
        nodes.map((n) =>
          n.d!.records().filter((r) => r.decision !== "accepted").map((r) =>
            JSON.stringify(r).slice(0, 300)
          )
        ),
      );
    assert.equal(res.code, 0, res.stderr + why());
    assert.equal(res.stdout.trim(), want, "B got every byte through A");
    const accepted = b.d!.records().filter((r) => r.decision === "accepted");
    assert.deepEqual(accepted.map((r) => [r.user, r.action, r.ip]), [["alice", "sum", a.ip]]);
  } finally {
    await stopAll(nodes);
  }
});

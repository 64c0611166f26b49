/**
 * The relay layer (docs/PROTOCOL.md §19): the checked-in vector (tests/vectors/relay_v2.json)
 * reproduced byte for byte and peeled as the client does; the layer parser's refusals; the
 * size arithmetic of a chain; and a relay's round trip that answers the next hop's cookie
 * reply (real UDP, a real CookieChecker on the other end).
 */
import assert from "node:assert/strict";
import { x25519PublicFromPrivate } from "../../src/crypto/keys.ts";
import { utf8 } from "../../src/crypto/bytes.ts";
import {
  CookieChecker,
  MAX_DATAGRAM,
  ReplyStatus,
  RequestOpener,
  sealRequest,
} from "../../src/wire/mod.ts";
import {
  encodeRelayPayload,
  innermostLimit,
  parseRelayPayload,
  RELAY_HEADER_LEN,
  RELAY_MIN_INNER,
  RELAY_STRUCTURAL_MAX_HOPS,
  RelayFlag,
  relayLayerOverhead,
} from "../../src/wire/relay.ts";
import { forwardDatagram } from "../../src/actions/relay_forward.ts";

const V = JSON.parse(
  await Deno.readTextFile(new URL("../vectors/relay_v2.json", import.meta.url)),
) as Record<string, string | number>;
const hex = (k: string) => Uint8Array.fromHex(V[k] as string);

Deno.test("relay vector: the code reproduces every byte, and the layers peel as the client peels them", () => {
  const hmacKey = hex("user_hmac_key");
  const auth = { kind: "hmac" as const, key: hmacKey };
  const ts = V.timestamp as number;
  const relayPub = x25519PublicFromPrivate(hex("relay_private"));
  const finalPub = x25519PublicFromPrivate(hex("final_private"));
  const inner = sealRequest(finalPub, auth, {
    type: "request",
    userId: 42,
    actionId: 1,
    sessionId: 1n,
    payload: utf8("ping"),
    timestamp: ts,
    nonce: Uint8Array.fromHex("11".repeat(16)),
    retryId: Uint8Array.fromHex("22".repeat(16)),
  }, { ephemeralPrivate: Uint8Array.fromHex("e1" + "33".repeat(30) + "4e"), encHighBit: 0 });
  assert.deepEqual(inner.datagram, hex("inner_datagram"));
  // The layer, by hand: format 1, no more hops, no flags, then the datagram as sealed.
  const layer = hex("relay_payload");
  assert.deepEqual([...layer.subarray(0, RELAY_HEADER_LEN)], [1, 0, 0]);
  assert.deepEqual(layer.subarray(RELAY_HEADER_LEN), inner.datagram);
  assert.deepEqual(encodeRelayPayload(0, inner.datagram), layer);
  const outer = sealRequest(relayPub, auth, {
    type: "request",
    userId: 42,
    actionId: 20,
    sessionId: 2n,
    payload: layer,
    timestamp: ts,
    nonce: Uint8Array.fromHex("44".repeat(16)),
    retryId: Uint8Array.fromHex("55".repeat(16)),
  }, { ephemeralPrivate: Uint8Array.fromHex("e2" + "66".repeat(30) + "4d"), encHighBit: 1 });
  assert.deepEqual(outer.datagram, hex("outer_datagram"));

  // The relay opens its layer and finds the inner datagram untouched; it cannot open that.
  const relay = new RequestOpener({
    x25519Private: hex("relay_private"),
    x25519Public: relayPub,
    clock: () => ts,
  });
  const atRelay = relay.open(outer.datagram, () => ({ hmacKey }));
  assert.ok(atRelay.ok);
  assert.equal(atRelay.msg.actionId, V.outer_action_id);
  assert.deepEqual(parseRelayPayload(atRelay.msg.payload)?.datagram, inner.datagram);
  assert.equal(relay.open(inner.datagram, () => ({ hmacKey })).ok, false);

  // The client peels: the relay's reply is `Relayed`, its body B's reply, opened with B's key.
  const r1 = outer.reply.open(hex("relay_reply"));
  assert.ok(r1.ok);
  assert.equal(r1.reply.status, ReplyStatus.Relayed);
  assert.deepEqual(r1.reply.body, hex("final_reply"));
  const r2 = inner.reply.open(r1.reply.body);
  assert.ok(r2.ok);
  assert.equal(r2.reply.status, ReplyStatus.Ok);
  assert.equal(new TextDecoder().decode(r2.reply.body), '{"data":"pong"}');
  // The relay's reply key does not open B's reply, nor B's key the relay's.
  assert.equal(outer.reply.open(hex("final_reply")).ok, false);
  assert.equal(inner.reply.open(hex("relay_reply")).ok, false);
});

Deno.test("relay layer: unknown format or flags, sizes and impossible hop counts are refused", () => {
  const d = new Uint8Array(RELAY_MIN_INNER).fill(7);
  assert.ok(parseRelayPayload(encodeRelayPayload(0, d)));
  assert.equal(parseRelayPayload(encodeRelayPayload(0, d, RelayFlag.NoReply))?.flags, 1);
  const bad = encodeRelayPayload(0, d);
  bad[0] = 2;
  assert.equal(parseRelayPayload(bad), null, "unknown format");
  assert.equal(parseRelayPayload(encodeRelayPayload(0, d, RelayFlag.Session))?.flags, 2);
  assert.equal(parseRelayPayload(encodeRelayPayload(0, d, 4)), null, "unknown flag");
  assert.equal(parseRelayPayload(encodeRelayPayload(0, d.subarray(1))), null, "too short");
  const big = new Uint8Array(MAX_DATAGRAM + 1);
  assert.equal(parseRelayPayload(encodeRelayPayload(0, big)), null, "too long");
  // One more layer needs a whole request around the next one.
  assert.equal(parseRelayPayload(encodeRelayPayload(1, d)), null);
  const two = new Uint8Array(RELAY_MIN_INNER * 2 + RELAY_HEADER_LEN);
  assert.equal(parseRelayPayload(encodeRelayPayload(1, two))?.hopsAfter, 1);
  assert.throws(() => encodeRelayPayload(256, d));
});

Deno.test("relay sizes: every layer fits in 1400 bytes and every reply in 1200", () => {
  assert.equal(RELAY_STRUCTURAL_MAX_HOPS, 6);
  for (const kind of ["hmac", "ed25519"] as const) {
    for (let hops = 1; hops <= 3; hops++) {
      const limit = innermostLimit(hops, kind);
      assert.ok(limit + hops * relayLayerOverhead(kind) <= MAX_DATAGRAM, `${kind} ${hops}`);
      assert.ok(limit + hops * 64 <= 1200, `${kind} ${hops}: replies`);
      assert.equal(limit % 16, 0);
    }
  }
  assert.deepEqual([1, 2, 3].map((h) => innermostLimit(h, "hmac")), [1136, 1008, 816]);
});

Deno.test("relay round trip: the relay answers the next hop's cookie reply once, with mac2 on the same bytes", async () => {
  const priv = Uint8Array.fromHex("c8" + "b2".repeat(30) + "5e");
  const pub = x25519PublicFromPrivate(priv);
  const checker = new CookieChecker(pub);
  const hop = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.8", port: 0 });
  const to = hop.addr as Deno.NetAddr;
  const datagram = sealRequest(pub, { kind: "hmac", key: new Uint8Array(32) }, {
    type: "request",
    userId: 1,
    actionId: 1,
  }).datagram;
  const seen: { proven: boolean; sameBody: boolean }[] = [];
  const server = (async () => {
    for await (const [data, from] of hop) {
      const src = from as Deno.NetAddr;
      const proven = checker.checkMac2(data, src.hostname, src.port);
      seen.push({
        proven,
        sameBody: data.subarray(0, data.length - 16).every((b, i) => b === datagram[i]),
      });
      // Unproven: "prove your address"; proven: an answer no larger than the request.
      const answer = proven
        ? new Uint8Array(100).fill(0xab)
        : checker.cookieReply(data, src.hostname, src.port)!;
      await hop.send(answer, src);
      if (proven) break;
    }
  })();
  try {
    const res = await forwardDatagram({
      to: { transport: "udp", hostname: to.hostname, port: to.port },
      bind: "127.0.0.1",
      datagram,
      timeoutMs: 5000,
      targetPublic: pub,
    });
    assert.ok(res.ok);
    assert.equal(res.cookieRound, true);
    assert.deepEqual(res.reply, new Uint8Array(100).fill(0xab));
    assert.deepEqual(seen, [{ proven: false, sameBody: true }, { proven: true, sameBody: true }]);
    // Without the next hop's key the relay cannot open the cookie reply: it hands it back.
    const hop2 = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.8", port: 0 });
    const echo = (async () => {
      for await (const [data, from] of hop2) {
        const src = from as Deno.NetAddr;
        await hop2.send(checker.cookieReply(data, src.hostname, src.port)!, src);
        break;
      }
    })();
    const plain = await forwardDatagram({
      to: hop2.addr as Deno.NetAddr,
      bind: "127.0.0.1",
      datagram,
      timeoutMs: 5000,
    });
    await echo;
    hop2.close();
    assert.ok(plain.ok);
    assert.equal(plain.cookieRound, false);
    assert.equal(plain.reply.length, 67);
  } finally {
    await server;
    hop.close();
  }
});

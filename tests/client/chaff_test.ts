/**
 * Client chaff on the wire: every decoy is exactly as long as a real datagram of the same
 * request, the real one takes a random place, and each opens (with the server key) as type
 * `chaff` from the same user. A real UDP socket records what the client sends.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { sendRequest } from "../../src/client/send.ts";
import { planChaff, sealChaff } from "../../src/client/chaff.ts";
import { RequestOpener } from "../../src/wire/mod.ts";

function serverKeys() {
  const x = generateKeyPairSync("x25519");
  const pub = x.publicKey.export({ type: "spki", format: "der" });
  const priv = x.privateKey.export({ type: "pkcs8", format: "der" });
  return {
    serverPublic: new Uint8Array(pub.subarray(pub.length - 32)),
    serverPrivate: new Uint8Array(priv.subarray(priv.length - 32)),
  };
}

/** Sends one request with chaff to a recording socket; returns the datagrams in order. */
async function record(
  opts: { chaff: number; wait: boolean; payload?: number },
  keys: ReturnType<typeof serverKeys>,
  hmacKey: Uint8Array,
): Promise<Uint8Array[]> {
  const sink = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const got: Uint8Array[] = [];
  const reading = (async () => {
    try {
      for (;;) got.push((await sink.receive())[0]);
    } catch {
      // closed
    }
  })();
  await sendRequest({
    host: "127.0.0.1",
    port: (sink.addr as Deno.NetAddr).port,
    serverPublic: keys.serverPublic,
    userId: 7,
    auth: { kind: "hmac", key: hmacKey },
    actionId: 3,
    payload: new Uint8Array(opts.payload ?? 5),
    wait: opts.wait,
    timeoutMs: 50,
    retries: 0,
    chaff: opts.chaff,
    chaffJitterMs: 3,
  });
  await new Promise((r) => setTimeout(r, 50));
  sink.close();
  await reading;
  return got;
}

Deno.test("chaff: decoys have the real datagram's length and open as chaff; the real one moves", async () => {
  const keys = serverKeys();
  const hmacKey = new Uint8Array(randomBytes(32));
  const opener = new RequestOpener({
    x25519Private: keys.serverPrivate,
    x25519Public: keys.serverPublic,
  });
  const lookup = () => ({ hmacKey });
  const realSlots = new Set<number>();
  for (const wait of [false, true]) {
    for (let run = 0; run < 12; run++) {
      const sent = await record({ chaff: 4, wait }, keys, hmacKey);
      assert.equal(sent.length, 5, "4 chaff + 1 real (the wait timed out: no retry)");
      assert.equal(new Set(sent.map((d) => d.length)).size, 1, "one length for all");
      if (wait) assert.equal(sent[0].length, 1200, "a request awaiting a reply is padded");
      const types = sent.map((d) => {
        const r = opener.open(d, lookup);
        assert.ok(r.ok, r.ok ? "" : r.reason);
        assert.equal(r.msg.userId, 7);
        return r.msg.type;
      });
      assert.equal(types.filter((t) => t === "request").length, 1);
      assert.equal(types.filter((t) => t === "chaff").length, 4);
      realSlots.add(types.indexOf("request"));
    }
  }
  assert.ok(realSlots.size >= 3, `the real datagram's place varies: ${[...realSlots]}`);
});

Deno.test("chaff: a fragmented request's decoys take the lengths of its fragments", async () => {
  const keys = serverKeys();
  const hmacKey = new Uint8Array(randomBytes(32));
  const sent = await record({ chaff: 6, wait: false, payload: 2000 }, keys, hmacKey);
  const real = new Set<number>();
  const opener = new RequestOpener({
    x25519Private: keys.serverPrivate,
    x25519Public: keys.serverPublic,
  });
  for (const d of sent) {
    const r = opener.open(d, () => ({ hmacKey }));
    assert.ok(r.ok);
    if (r.msg.type === "fragment") real.add(d.length);
  }
  assert.ok(real.size >= 1);
  for (const d of sent) assert.ok(real.has(d.length), `${d.length} is a fragment length`);
});

Deno.test("chaff: bounds and the plan", () => {
  assert.throws(() => planChaff(33, 10), /0\.\.32/);
  assert.throws(() => planChaff(-1, 10), /0\.\.32/);
  const p = planChaff(5, 0);
  assert.equal(p.delays.length, 6);
  assert.ok(p.delays.every((d) => d === 0));
  assert.ok(p.realSlot >= 0 && p.realSlot <= 5);
  const keys = serverKeys();
  assert.throws(
    () => sealChaff({ ...keys, userId: 1, auth: { kind: "hmac", key: new Uint8Array(32) } }, 40),
    /cannot be sealed/,
  );
});

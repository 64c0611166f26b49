import assert from "node:assert/strict";
import {
  encodeFragment,
  MAX_FRAGMENT_DATAGRAM,
  maxFragmentChunk,
  parseFragment,
  Reassembler,
  sealFragments,
} from "../../src/wire/mod.ts";
import { AUTHS, lookup, NOW, opener, serverPublic } from "./_fixtures.ts";

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

Deno.test("a 10 KiB message goes as ≤1200-byte fragments of one session and reassembles", () => {
  for (const kind of ["hmac", "ed25519"] as const) {
    const payload = bytes(10_000);
    const { sessionId, parts } = sealFragments(serverPublic, AUTHS[kind].auth, {
      userId: AUTHS[kind].userId,
      actionId: 9,
      payload,
    }, { now: NOW });
    const chunk = maxFragmentChunk(kind, 0);
    assert.equal(parts.length, Math.ceil(10_000 / chunk));
    const r = new Reassembler({}, () => NOW);
    const op = opener();
    // out of order
    const order = parts.map((_, i) => i).reverse();
    let done: Uint8Array | undefined;
    for (const i of order) {
      assert.ok(parts[i].datagram.length <= MAX_FRAGMENT_DATAGRAM);
      const o = op.open(parts[i].datagram, lookup);
      assert.ok(o.ok);
      assert.equal(o.msg.type, "fragment");
      assert.equal(o.msg.sessionId, sessionId);
      assert.equal(o.msg.actionId, 9);
      const res = r.add("192.0.2.1", o.msg.userId, o.msg.sessionId, o.msg.payload);
      if (res.status === "complete") done = res.data;
      else assert.equal(res.status, "pending");
    }
    assert.deepEqual(done, payload);
    assert.equal(r.pendingCount, 0);
    assert.equal(r.pendingBytes, 0);
  }
});

Deno.test("fragment codec: bad headers are refused", () => {
  assert.equal(parseFragment(new Uint8Array(3)), null);
  assert.equal(parseFragment(new Uint8Array([0, 0, 0, 0])), null, "count 0");
  assert.equal(parseFragment(new Uint8Array([0, 2, 0, 2])), null, "index ≥ count");
  assert.deepEqual(
    parseFragment(encodeFragment(1, 2, new Uint8Array([7])))?.chunk,
    new Uint8Array([7]),
  );
  assert.throws(() => encodeFragment(2, 2, new Uint8Array()));
});

Deno.test("reassembly limits: fragments per message, bytes per message, duplicates, mismatch", () => {
  const r = new Reassembler({ maxFragments: 4, maxMessageBytes: 100 }, () => NOW);
  assert.deepEqual(r.add("a", 1, 1n, encodeFragment(0, 5, bytes(1))), {
    status: "rejected",
    reason: "too_many_fragments",
  });
  assert.equal(r.add("a", 1, 2n, encodeFragment(0, 3, bytes(60))).status, "pending");
  assert.deepEqual(r.add("a", 1, 2n, encodeFragment(1, 3, bytes(60))), {
    status: "rejected",
    reason: "message_too_large",
  });
  assert.equal(r.pendingCount, 0, "an oversized message is dropped whole");
  assert.equal(r.add("a", 1, 3n, encodeFragment(0, 2, bytes(10))).status, "pending");
  assert.deepEqual(r.add("a", 1, 3n, encodeFragment(0, 2, bytes(10))), {
    status: "rejected",
    reason: "duplicate_fragment",
  });
  assert.deepEqual(r.add("a", 1, 3n, encodeFragment(0, 3, bytes(10))), {
    status: "rejected",
    reason: "fragment_mismatch",
  });
  assert.deepEqual(r.add("a", 1, 4n, new Uint8Array(2)), {
    status: "rejected",
    reason: "bad_fragment",
  });
});

Deno.test("pending sessions per source are bounded; a new session evicts the oldest (no lockout)", () => {
  const r = new Reassembler({ maxPendingPerSource: 3 }, () => NOW);
  for (let s = 0; s < 100; s++) {
    assert.equal(r.add("evil", 1, BigInt(s), encodeFragment(0, 2, bytes(5))).status, "pending");
  }
  assert.equal(r.pendingCount, 3);
  // another source is unaffected, and completes
  assert.equal(r.add("good", 2, 1n, encodeFragment(0, 2, bytes(5))).status, "pending");
  assert.equal(r.add("good", 2, 1n, encodeFragment(1, 2, bytes(5))).status, "complete");
  // the newest sessions of "evil" survive
  assert.equal(r.add("evil", 1, 99n, encodeFragment(1, 2, bytes(5))).status, "complete");
  assert.ok(r.stats.evicted >= 97);
});

Deno.test("pending total and pending bytes are bounded across many sources", () => {
  const r = new Reassembler({ maxPendingTotal: 50, maxPendingBytes: 10_000 }, () => NOW);
  for (let i = 0; i < 1000; i++) {
    r.add(`10.0.${i >> 8}.${i & 255}`, 1, 1n, encodeFragment(0, 2, bytes(500)));
    assert.ok(r.pendingCount <= 50);
    assert.ok(r.pendingBytes <= 10_000);
  }
  // a new sender still gets through
  r.add("fresh", 1, 1n, encodeFragment(0, 2, bytes(10)));
  assert.equal(r.add("fresh", 1, 1n, encodeFragment(1, 2, bytes(10))).status, "complete");
});

Deno.test("pending messages expire after maxAgeMs", () => {
  let now = NOW;
  const r = new Reassembler({ maxAgeMs: 1000 }, () => now);
  r.add("a", 1, 1n, encodeFragment(0, 2, bytes(10)));
  now += 1001;
  assert.equal(r.add("b", 1, 1n, encodeFragment(0, 2, bytes(10))).status, "pending");
  assert.equal(r.pendingCount, 1);
  assert.equal(r.stats.expired, 1);
  // the late fragment starts a new message rather than completing the expired one
  assert.equal(r.add("a", 1, 1n, encodeFragment(1, 2, bytes(10))).status, "pending");
});

Deno.test("a single-fragment message completes at once without being stored", () => {
  const r = new Reassembler({}, () => NOW);
  assert.deepEqual(r.add("a", 1, 1n, encodeFragment(0, 1, bytes(3))), {
    status: "complete",
    data: bytes(3),
  });
  assert.equal(r.pendingCount, 0);
});

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { isPoolFailure, OpenPool, type PoolOpenResult } from "../../src/daemon/open_pool.ts";
import type { PoolServer, PoolUser } from "../../src/daemon/open_worker.ts";
import { type OpenResult, sealRequest, type UserAuth } from "../../src/wire/mod.ts";
import {
  AUTHS,
  ED_USER,
  edPublic,
  HMAC_USER,
  hmacKey,
  lookup,
  NOW,
  opener,
  otherServerPrivate,
  otherServerPublic,
  serverPrivate,
  serverPublic,
  withMac1,
} from "../wire/_fixtures.ts";
import { CRASH_LENGTH } from "./_crashing_open_worker.ts";

const SECURE: PoolServer = {
  name: "s",
  x25519Private: serverPrivate,
  x25519Public: serverPublic,
  insecure: false,
  skewMs: 30_000,
};
const INSECURE: PoolServer = { ...SECURE, name: "i", insecure: true };
const USERS: PoolUser[] = [{ id: HMAC_USER, hmacKey }, { id: ED_USER, ed25519Public: edPublic }];
const REPLY_NONCE = new Uint8Array(12).fill(7);

function start(extra: Partial<Parameters<typeof OpenPool.start>[0]> = {}): Promise<OpenPool> {
  return OpenPool.start({
    workers: 2,
    servers: [SECURE, INSECURE],
    users: USERS,
    queueLimit: 1000,
    clock: () => NOW,
    ...extra,
  });
}

function seal(auth: UserAuth, userId: number, opts: { insecure?: boolean; now?: number } = {}) {
  return sealRequest(serverPublic, auth, { type: "request", userId, actionId: 3 }, {
    now: opts.now ?? NOW,
    insecure: opts.insecure,
  });
}

function must(p: Promise<PoolOpenResult> | undefined): Promise<PoolOpenResult> {
  assert.ok(p !== undefined, "queue refused the datagram");
  return p;
}

/** The pool's result equals the in-thread one, and both sealers seal the same reply. */
function assertSame(got: PoolOpenResult, want: OpenResult): void {
  const { replier: gotReplier, ...gotRest } = got as OpenResult;
  const { replier: wantReplier, ...wantRest } = want;
  assert.deepStrictEqual(gotRest, wantRest);
  assert.equal(gotReplier === undefined, wantReplier === undefined);
  if (gotReplier && wantReplier) {
    assert.deepStrictEqual(gotReplier.requestId, wantReplier.requestId);
    const fields = { status: 0, serverTime: NOW, body: new Uint8Array([1, 2, 3]) };
    assert.deepStrictEqual(
      gotReplier.seal(fields, { nonce: REPLY_NONCE }),
      wantReplier.seal(fields, { nonce: REPLY_NONCE }),
    );
  }
}

Deno.test("open pool: results equal an in-thread open, for valid, garbage and bad-auth datagrams", async () => {
  const pool = await start();
  try {
    const secure = opener();
    const insecure = opener({ insecure: true });
    const cases: { name: string; server: "s" | "i"; d: Uint8Array }[] = [];
    for (const kind of ["hmac", "ed25519"] as const) {
      const { auth, userId } = AUTHS[kind];
      cases.push({ name: `${kind} secure`, server: "s", d: seal(auth, userId).datagram });
      cases.push({
        name: `${kind} insecure`,
        server: "i",
        d: seal(auth, userId, { insecure: true }).datagram,
      });
      cases.push({
        name: `${kind} old`,
        server: "s",
        d: seal(auth, userId, { now: NOW - 60_000 }).datagram,
      });
    }
    cases.push(
      { name: "too short", server: "s", d: new Uint8Array(10) },
      { name: "random", server: "s", d: new Uint8Array(randomBytes(200)) },
      { name: "mac1-valid random", server: "s", d: withMac1(randomBytes(200), "secure") },
      { name: "wrong mode", server: "i", d: seal(AUTHS.hmac.auth, HMAC_USER).datagram },
      {
        name: "bad hmac key",
        server: "s",
        d: seal({ kind: "hmac", key: new Uint8Array(32).fill(9) }, HMAC_USER).datagram,
      },
      {
        name: "ed25519 key for the hmac user",
        server: "s",
        d: seal(AUTHS.ed25519.auth, HMAC_USER).datagram,
      },
      { name: "unknown user", server: "s", d: seal(AUTHS.hmac.auth, 999).datagram },
    );
    const got = await Promise.all(cases.map((c) => must(pool.open(c.server, c.d, false))));
    for (const [i, c] of cases.entries()) {
      const want = (c.server === "s" ? secure : insecure).open(c.d, lookup);
      try {
        assertSame(got[i], want);
      } catch (e) {
        throw new Error(`${c.name}: ${(e as Error).message}`);
      }
    }
    assert.ok(got[0].ok && got[1].ok, "the valid requests opened");
    assert.equal(got.filter((r) => r.ok).length, 4);
  } finally {
    await pool.stop();
  }
});

Deno.test("open pool: the sealer rebuilt on the main thread seals replies the client opens", async () => {
  const pool = await start();
  try {
    for (const kind of ["hmac", "ed25519"] as const) {
      for (const insecure of [false, true]) {
        const sealed = seal(AUTHS[kind].auth, AUTHS[kind].userId, { insecure });
        const r = await must(pool.open(insecure ? "i" : "s", sealed.datagram, true));
        assert.ok(r.ok, `${kind} opened`);
        const body = new TextEncoder().encode(`hello ${kind}`);
        const opened = sealed.reply.open(r.replier.seal({ status: 0, serverTime: NOW, body }));
        assert.ok(opened.ok, `${kind} insecure=${insecure}: client opens the reply`);
        assert.deepStrictEqual(opened.reply.body, body);
        assert.deepStrictEqual(opened.reply.requestId, sealed.requestId);
      }
    }
  } finally {
    await pool.stop();
  }
});

Deno.test("open pool: a proven datagram is taken before every queued unproven one", async () => {
  const pool = await start({ workers: 1, maxBatch: 1, batchesPerWorker: 1 });
  try {
    const order: string[] = [];
    const d = seal(AUTHS.ed25519.auth, ED_USER).datagram;
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      all.push(must(pool.open("s", d, false)).then(() => order.push(`u${i}`)));
    }
    all.push(must(pool.open("s", d, true)).then(() => order.push("proven")));
    assert.equal(pool.depth, 21);
    assert.ok(pool.lagMs >= 0);
    await Promise.all(all);
    assert.equal(pool.lagMs, 0);
    // Only the unproven datagram already in the worker when the proven one came finishes first.
    assert.deepStrictEqual(order.slice(0, 2), ["u0", "proven"]);
    assert.equal(pool.depth, 0);
  } finally {
    await pool.stop();
  }
});

Deno.test("open pool: a full queue refuses unproven datagrams; a proven one evicts the oldest unproven, never a proven", async () => {
  const pool = await start({ workers: 1, maxBatch: 1, batchesPerWorker: 1, queueLimit: 3 });
  try {
    const d = seal(AUTHS.hmac.auth, HMAC_USER).datagram;
    const first = must(pool.open("s", d, false)); // in flight at once
    const u1 = must(pool.open("s", d, false));
    const u2 = must(pool.open("s", d, false));
    const p1 = must(pool.open("s", d, true));
    assert.equal(pool.depth, 4);
    assert.equal(pool.open("s", d, false), undefined, "unproven refused when full");
    const p2 = must(pool.open("s", d, true)); // evicts u1
    const p3 = must(pool.open("s", d, true)); // evicts u2
    assert.equal(pool.open("s", d, true), undefined, "a proven one never evicts a proven one");
    assert.equal(pool.depth, 4);
    assert.deepStrictEqual(await u1, { ok: false, reason: "evicted" });
    assert.deepStrictEqual(await u2, { ok: false, reason: "evicted" });
    assert.ok(isPoolFailure(await u1));
    for (const p of [first, p1, p2, p3]) assert.ok((await p).ok);
    const s = pool.stats;
    assert.equal(s.x25519, 4, "each opened datagram cost its worker one X25519, reported back");
    assert.equal(s.evicted, 2);
    assert.equal(s.refused, 2);
    assert.equal(pool.depth, 0);
  } finally {
    await pool.stop();
  }
});

Deno.test("open pool: update() gives every worker the new keys", async () => {
  const pool = await start({ users: [{ id: HMAC_USER, hmacKey }] });
  try {
    const ed = seal(AUTHS.ed25519.auth, ED_USER).datagram;
    const before = await Promise.all([1, 2, 3, 4].map(() => must(pool.open("s", ed, false))));
    for (const r of before) assert.equal(r.ok ? "ok" : r.reason, "unknown_user");

    const other = sealRequest(otherServerPublic, AUTHS.ed25519.auth, {
      type: "request",
      userId: ED_USER,
      actionId: 1,
    }, { now: NOW }).datagram;
    pool.update(
      [{ ...SECURE, x25519Private: otherServerPrivate, x25519Public: otherServerPublic }],
      USERS,
    );
    // Enough opens that both workers take some.
    const after = await Promise.all(
      Array.from({ length: 8 }, () => must(pool.open("s", other, false))),
    );
    for (const r of after) assert.ok(r.ok, "a user and a server key added by update() open");
    const old = await must(pool.open("s", ed, false));
    assert.equal(old.ok ? "ok" : old.reason, "bad_mac1", "the old server key is gone");
    assert.throws(() => pool.update([{ ...SECURE, x25519Public: otherServerPublic }], USERS));
  } finally {
    await pool.stop();
  }
});

Deno.test("open pool: a worker that dies is replaced; its opens resolve as internal", async () => {
  const pool = await start({
    workers: 1,
    batchesPerWorker: 1,
    workerUrl: new URL("./_crashing_open_worker.ts", import.meta.url),
  });
  try {
    const d = seal(AUTHS.hmac.auth, HMAC_USER).datagram;
    const crash = must(pool.open("s", new Uint8Array(CRASH_LENGTH), false));
    const queued = must(pool.open("s", d, true)); // waits for the worker that dies
    assert.deepStrictEqual(await crash, { ok: false, reason: "internal" });
    assert.ok(isPoolFailure(await crash));
    const r = await queued;
    assert.ok(r.ok, "the queued open ran on the new worker");
    assert.ok((await must(pool.open("s", d, false))).ok);
    assert.equal(pool.stats.replaced, 1);
  } finally {
    await pool.stop();
  }
});

Deno.test("open pool: stop() resolves everything queued or in flight", async () => {
  const pool = await start({ workers: 1, maxBatch: 1, batchesPerWorker: 1 });
  const d = seal(AUTHS.ed25519.auth, ED_USER).datagram;
  const pending = Array.from({ length: 10 }, (_, i) => must(pool.open("s", d, i % 2 === 0)));
  await pool.stop();
  const results = await Promise.all(pending);
  for (const r of results) assert.deepStrictEqual(r, { ok: false, reason: "stopped" });
  assert.deepStrictEqual(await must(pool.open("s", d, true)), { ok: false, reason: "stopped" });
  assert.equal(pool.depth, 0);
});

Deno.test("open pool: start() refuses a public key that does not match its private key", async () => {
  await assert.rejects(
    () => start({ servers: [{ ...SECURE, x25519Public: otherServerPublic }] }),
    RangeError,
  );
});

Deno.test("open pool: start() rejects when a worker cannot load, and leaves nothing running", async () => {
  await assert.rejects(
    () => start({ workerUrl: new URL("./_no_such_open_worker.ts", import.meta.url) }),
    /open worker failed to start/,
  );
});

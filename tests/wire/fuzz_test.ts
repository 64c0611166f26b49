import fc from "fast-check";
import { Reassembler, sealRequest } from "../../src/wire/mod.ts";
import { AUTHS, lookup, NOW, opener, serverPublic, withMac1 } from "./_fixtures.ts";

const anyUser = () => ({ hmacKey: new Uint8Array(32), ed25519Public: new Uint8Array(32) });

Deno.test("fuzz: opening arbitrary bytes never throws and never accepts", () => {
  const ops = [opener(), opener({ insecure: true })];
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 1500 }), (d) => {
      for (const op of ops) {
        const r = op.open(d, anyUser);
        if (r.ok) return false;
        op.prefilter(d);
      }
      return true;
    }),
    { numRuns: 3000 },
  );
});

Deno.test("fuzz: arbitrary bytes with a valid mac1 (past the prefilter) never throw and never accept", () => {
  for (const mode of ["secure", "insecure"] as const) {
    const op = opener({ insecure: mode === "insecure" });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 110, maxLength: 1384 }), (body) => {
        const r = op.open(withMac1(body, mode), lookup);
        return !r.ok && r.reason !== "bad_mac1" && r.replier === undefined;
      }),
      { numRuns: 1500 },
    );
  }
});

Deno.test("fuzz: random corruption of a valid insecure packet (plain inner fields, mac1 recomputed) never accepts", () => {
  const s = sealRequest(serverPublic, AUTHS.hmac.auth, {
    type: "request",
    userId: AUTHS.hmac.userId,
    actionId: 1,
    payload: new Uint8Array(30),
  }, { now: NOW, insecure: true });
  const body = s.datagram.subarray(0, s.datagram.length - 16);
  const op = opener({ insecure: true });
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(body.length - 1), fc.integer({ min: 1, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
      (edits) => {
        const x = body.slice();
        for (const [i, v] of edits) x[i] ^= v;
        return !op.open(withMac1(x, "insecure"), lookup).ok;
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("fuzz: reassembler never throws and stays within its limits", () => {
  const r = new Reassembler(
    { maxPendingTotal: 20, maxPendingPerSource: 3, maxPendingBytes: 4000 },
    () => NOW,
  );
  fc.assert(
    fc.property(
      fc.string({ maxLength: 3 }),
      fc.nat(3),
      fc.bigInt({ min: 0n, max: 5n }),
      fc.uint8Array({ maxLength: 600 }),
      (src, user, sid, payload) => {
        r.add(src, user, sid, payload);
        return r.pendingCount <= 20 && r.pendingBytes <= 4000;
      },
    ),
    { numRuns: 5000 },
  );
});

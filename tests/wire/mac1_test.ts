import assert from "node:assert/strict";
import fc from "fast-check";
import { Mac1 } from "../../src/wire/mac1.ts";
import { constantTimeEqual } from "../../src/crypto/ct.ts";

const label = new TextEncoder().encode("test label");
const serverPublic = new Uint8Array(32).fill(7);

Deno.test("mac1: the JS path (short) and node:crypto (long) agree at every size", () => {
  const m = new Mac1(label, serverPublic);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 1400 }), fc.nat(15), (body, flip) => {
      const d = new Uint8Array(body.length + 16);
      d.set(body);
      d.set(m.compute(body), body.length); // compute() always hashes through node:crypto
      assert.equal(m.verify(d), true, `size ${body.length}`);
      d[body.length + flip] ^= 1;
      assert.equal(m.verify(d), false);
    }),
    { numRuns: 400 },
  );
});

Deno.test("constantTimeEqual: equal, unequal at any position, unequal lengths", () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), (a, at) => {
    const b = a.slice();
    assert.equal(constantTimeEqual(a, b), true);
    b[at % b.length] ^= 0x80;
    assert.equal(constantTimeEqual(a, b), false);
    assert.equal(constantTimeEqual(a, a.subarray(1)), false);
  }));
});

import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeReplyBody, encodeReplyBody, replyOutput } from "../../src/wire/reply_body.ts";

Deno.test("reply body: fits the budget, cuts output first, flags the cut", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 3000 }),
      fc.integer({ min: 40, max: 1200 }),
      fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
      (output, budget, reason) => {
        const enc = encodeReplyBody({ reason }, output, budget);
        assert.ok(enc.bytes.length <= budget);
        const body = decodeReplyBody(enc.bytes);
        const out = replyOutput(body);
        // What came back is a prefix of the output, and the flag says whether it was cut.
        assert.deepEqual(out, output.subarray(0, out.length));
        assert.equal(enc.cut, out.length < output.length || enc.cut);
        if (out.length < output.length) assert.equal(enc.cut, true);
        if (reason !== undefined && enc.bytes.length > 0 && budget > 200) {
          assert.equal(body.reason, reason);
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("reply body: text stays text, binary goes base64, messages survive a cut", () => {
  const text = encodeReplyBody({}, new TextEncoder().encode("héllo"), 1000);
  assert.equal(decodeReplyBody(text.bytes).out, "héllo");
  const bin = encodeReplyBody({}, new Uint8Array([0xff, 0xfe, 0x00]), 1000);
  const b = decodeReplyBody(bin.bytes);
  assert.equal(b.b64, true);
  assert.deepEqual(replyOutput(b), new Uint8Array([0xff, 0xfe, 0x00]));
  const msgs = [{ level: "warning" as const, text: "maintenance" }];
  const cut = encodeReplyBody({ msgs }, new Uint8Array(5000).fill(0x61), 200);
  assert.equal(cut.cut, true);
  assert.deepEqual(decodeReplyBody(cut.bytes).msgs, msgs);
  assert.deepEqual(decodeReplyBody(new TextEncoder().encode("not json")), {});
});

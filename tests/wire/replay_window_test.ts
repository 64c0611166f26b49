import assert from "node:assert/strict";
import fc from "fast-check";
import { REPLAY_WINDOW, ReplayWindow } from "../../src/wire/replay_window.ts";

Deno.test("replay window: each counter once, any order within the window; older ones refused", () => {
  const w = new ReplayWindow();
  assert.ok(w.accept(0));
  assert.ok(!w.accept(0), "a replay");
  assert.ok(w.accept(5));
  assert.ok(w.accept(3), "late but within the window");
  assert.ok(!w.accept(3));
  assert.ok(w.accept(REPLAY_WINDOW + 10));
  assert.ok(!w.check(9), "10 behind the window's end");
  assert.ok(w.check(11), "inside the window, never seen");
  assert.ok(!w.check(5), "seen before, still inside: refused");
  assert.ok(!w.check(-1));
  assert.ok(!w.check(1.5));
  assert.equal(w.top, REPLAY_WINDOW + 10);
  // a jump far ahead clears the whole ring
  assert.ok(w.accept(1e12));
  assert.ok(w.check(1e12 - 5));
  assert.ok(!w.check(1e12 - REPLAY_WINDOW));
});

Deno.test("replay window: matches a set-based model for random counter sequences", () => {
  fc.assert(
    fc.property(fc.array(fc.nat(6000), { maxLength: 400 }), (counters) => {
      const w = new ReplayWindow();
      const seen = new Set<number>();
      let top = -1;
      for (const c of counters) {
        const expect = !seen.has(c) && (c > top || c + REPLAY_WINDOW > top);
        assert.equal(w.accept(c), expect, `counter ${c} after top ${top}`);
        if (expect) {
          seen.add(c);
          top = Math.max(top, c);
        }
      }
    }),
  );
});

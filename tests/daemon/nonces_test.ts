/**
 * The nonce batcher: claims of one task go in one commit; a claim its request waits for
 * (urgent) is committed in the same event-loop turn, not after the batch timer (here a manual
 * one, fired by the test); claims made during a commit go in the next; a failed commit
 * rejects its claims.
 */
import assert from "node:assert/strict";
import { NonceBatcher } from "../../src/daemon/nonces.ts";
import type { NonceClaim, StateStore } from "../../src/state/store.ts";

/** A store that records each commit's claims; `hold` keeps commits open until released. */
function fakeStore(opts: { hold?: boolean; fail?: boolean } = {}) {
  const commits: number[][] = [];
  const waiting: (() => void)[] = [];
  const store = {
    claimNonces(claims: readonly NonceClaim[]): Promise<boolean[]> {
      commits.push(claims.map((c) => c.nonce[0]));
      if (opts.fail) return Promise.reject(new Error("disk gone"));
      const answer = claims.map(() => true);
      if (!opts.hold) return Promise.resolve(answer);
      return new Promise((resolve) => waiting.push(() => resolve(answer)));
    },
  } as unknown as StateStore;
  return { store, commits, release: () => waiting.splice(0).forEach((f) => f()) };
}

const nonce = (n: number) => new Uint8Array(16).fill(n);

/** A batch timer the test fires by hand. */
function manualTimer() {
  const due: (() => void)[] = [];
  return {
    later: (run: () => void) => void due.push(run),
    fire: () => due.splice(0).forEach((f) => f()),
    due,
  };
}
const later = Date.now() + 60_000;

Deno.test("nonce batcher: an urgent claim commits without the batch timer, with the turn's others", async () => {
  const { store, commits } = fakeStore();
  const timer = manualTimer();
  const b = new NonceBatcher(store, timer.later);
  const urgent = b.claim(nonce(1), later, true);
  const other = b.claim(nonce(2), later);
  assert.equal(await urgent, true, "committed while the batch timer never fired");
  assert.equal(await other, true);
  assert.deepEqual(commits, [[1, 2]]);
  timer.fire(); // the batch timer the other claim set finds nothing left
  await b.flush();
  assert.deepEqual(commits, [[1, 2]]);
});

Deno.test("nonce batcher: claims nobody waits for share one commit, at the batch timer", async () => {
  const { store, commits } = fakeStore();
  const timer = manualTimer();
  const b = new NonceBatcher(store, timer.later);
  const claims = [1, 2, 3].map((n) => b.claim(nonce(n), later));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(commits, [], "committed before the batch timer");
  assert.equal(timer.due.length, 1, "one timer for the batch");
  timer.fire();
  assert.deepEqual(await Promise.all(claims), [true, true, true]);
  assert.deepEqual(commits, [[1, 2, 3]]);
});

Deno.test("nonce batcher: claims made while a commit is in flight go in the next, together", async () => {
  const { store, commits, release } = fakeStore({ hold: true });
  const b = new NonceBatcher(store);
  const first = b.claim(nonce(1), later, true);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(commits, [[1]]);
  const next = [
    b.claim(nonce(2), later, true),
    b.claim(nonce(3), later),
    b.claim(nonce(4), later, true),
  ];
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(commits, [[1]], "a second commit started while the first was in flight");
  release();
  assert.equal(await first, true);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(commits, [[1], [2, 3, 4]]);
  release();
  assert.deepEqual(await Promise.all(next), [true, true, true]);
});

Deno.test("nonce batcher: a failed commit rejects its claims (nothing runs)", async () => {
  const { store } = fakeStore({ fail: true });
  const b = new NonceBatcher(store);
  await assert.rejects(b.claim(nonce(1), later, true), /disk gone/);
  await assert.rejects(b.claim(nonce(2), later), /disk gone/);
});

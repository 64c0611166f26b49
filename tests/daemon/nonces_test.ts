/**
 * The nonce batcher: claims of one task go in one commit; a claim its request waits for
 * (urgent) is committed at the end of the task, not after a zero timer; claims made during
 * a commit go in the next; a failed commit rejects its claims.
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
const later = Date.now() + 60_000;

Deno.test("nonce batcher: an urgent claim commits at the end of the task, with the task's others", async () => {
  const { store, commits } = fakeStore();
  const b = new NonceBatcher(store);
  let timerFired = false;
  setTimeout(() => timerFired = true, 0);
  const urgent = b.claim(nonce(1), later, true);
  const other = b.claim(nonce(2), later);
  assert.equal(await urgent, true);
  assert.equal(timerFired, false, "the commit waited for a timer");
  assert.equal(await other, true);
  assert.deepEqual(commits, [[1, 2]]);
  await b.flush();
  await new Promise((r) => setTimeout(r, 0)); // the others' timer: finds nothing to commit
  assert.deepEqual(commits, [[1, 2]]);
});

Deno.test("nonce batcher: claims nobody waits for share one commit after a zero timer", async () => {
  const { store, commits } = fakeStore();
  const b = new NonceBatcher(store);
  const claims = [1, 2, 3].map((n) => b.claim(nonce(n), later));
  await Promise.resolve();
  assert.deepEqual(commits, [], "committed before the timer");
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

/**
 * The `siglatch open` loop over a scripted sender: renewals before lapse, revoke on
 * Ctrl-C and at the end of `--for`, refusal and loss.
 * @module
 */
import assert from "node:assert/strict";
import { type OpenAttempt, runOpen } from "../../src/client/keepopen.ts";

function sender(script: (n: number, actionId: number) => OpenAttempt) {
  const calls: Array<{ actionId: number; at: number }> = [];
  return {
    calls,
    send: (actionId: number, _p: Uint8Array) => {
      calls.push({ actionId, at: Date.now() });
      return Promise.resolve(script(calls.length, actionId));
    },
  };
}

const granted: OpenAttempt = {
  answered: true,
  ok: true,
  data: { address: "192.0.2.1", ports: ["tcp/22"], expires_in: 60_000, keepalive: 2400 },
};

Deno.test("open: renews at half the keepalive, revokes on Ctrl-C", async () => {
  const s = sender((_n, id) => id === 9 ? { answered: true, ok: true } : granted);
  const abort = new AbortController();
  const log: string[] = [];
  setTimeout(() => abort.abort(), 3000);
  const code = await runOpen({
    send: s.send,
    actionId: 5,
    revokeActionId: 9,
    payload: new Uint8Array(),
    signal: abort.signal,
    log: (l) => log.push(l),
  });
  assert.equal(code, 0);
  assert.deepEqual(s.calls.map((c) => c.actionId), [5, 5, 5, 9], log.join("\n"));
  assert.ok(s.calls[1].at - s.calls[0].at >= 1150);
  assert.match(log[0], /^open: 192\.0\.2\.1 tcp\/22 for 1m/);
  assert.equal(log.at(-1), "revoked");
});

Deno.test("open: --for bounds it; refusal and no reply", async () => {
  const s = sender((_n, id) => id === 9 ? { answered: true, ok: true } : granted);
  const t0 = Date.now();
  const code = await runOpen({
    send: s.send,
    actionId: 5,
    revokeActionId: 9,
    payload: new Uint8Array(),
    forMs: 1500,
    signal: new AbortController().signal,
    log: () => {},
  });
  assert.equal(code, 0);
  // Not before --for ends; the upper bound only catches a loop that never ends (a loaded CI
  // machine can be seconds late).
  const took = Date.now() - t0;
  assert.ok(took >= 1450 && took < 15_000, `took ${took} ms`);
  assert.equal(s.calls.at(-1)?.actionId, 9);
  const refused = sender(() => ({ answered: true, ok: false, reason: "denied: not_allowed" }));
  const log: string[] = [];
  assert.equal(
    await runOpen({
      send: refused.send,
      actionId: 5,
      payload: new Uint8Array(),
      signal: new AbortController().signal,
      log: (l) => log.push(l),
    }),
    1,
  );
  assert.match(log[0], /denied: not_allowed/);
  const silent = sender(() => ({ answered: false, ok: false }));
  assert.equal(
    await runOpen({
      send: silent.send,
      actionId: 5,
      payload: new Uint8Array(),
      signal: new AbortController().signal,
      log: () => {},
    }),
    3,
  );
});

Deno.test("open: renewals lost until the grant lapses -> exit 1", async () => {
  const s = sender((n) =>
    n === 1
      ? { answered: true, ok: true, data: { expires_in: 2500 } }
      : { answered: false, ok: false }
  );
  const log: string[] = [];
  const code = await runOpen({
    send: s.send,
    actionId: 5,
    payload: new Uint8Array(),
    everyMs: 1000,
    signal: new AbortController().signal,
    log: (l) => log.push(l),
  });
  assert.equal(code, 1, log.join("\n"));
  assert.ok(log.some((l) => l.includes("lapsed")));
});

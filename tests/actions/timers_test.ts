/**
 * Keepalive/destructor timers on a real Deno KV store: renewals, max lifetime, cancel,
 * fire, restart recovery, and `kill -9` of the process holding the timers.
 * @module
 */
import assert from "node:assert/strict";
import { KvStateStore } from "../../src/state/kv.ts";
import {
  type DestructorSpec,
  specKey,
  timerKey,
  TimerManager,
  timerPlan,
  type TimerRecord,
} from "../../src/actions/timers.ts";
import { parseIp } from "../../src/util/ip.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A distinct session per name: user 1, action 1, a source address of its own. */
const NAMES = ["a", "m", "c", "f", "due", "later", "ran"];
function spec(name: string): DestructorSpec {
  const i = NAMES.indexOf(name);
  assert.ok(i >= 0, name);
  return { actionId: 1, action: "act", kind: "exec", userId: 1, source: `192.0.2.${i + 1}` };
}
/** The session key of {@linkcode spec}. */
const key = (name: string) => specKey(spec(name));
const named = (k: string) => NAMES[Number(k.split(".").pop()) - 1];

async function withStore<T>(fn: (store: KvStateStore, dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-timers-" });
  const store = await KvStateStore.open(dir);
  try {
    return await fn(store, dir);
  } finally {
    await store.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

function recorder() {
  const runs: Array<{ key: string; reason: string; attempt: number; at: number }> = [];
  const run = (_spec: DestructorSpec, info: { key: string; reason: string; attempt: number }) => {
    runs.push({ ...info, at: Date.now() });
    return Promise.resolve({ ok: true });
  };
  return { runs, run };
}

Deno.test("timerPlan: keepalive, max_lifetime, none", () => {
  assert.equal(timerPlan({ type: "exec" }, 0), undefined);
  assert.equal(timerPlan({ type: "exec", keepalive: 1000 }, 0), undefined, "no destructor");
  assert.deepEqual(timerPlan({ type: "exec", keepalive: 1000, destructor: ["/bin/true"] }, 10), {
    keepaliveMs: 1000,
    deadline: 1010,
    maxDeadline: undefined,
  });
  assert.deepEqual(timerPlan({ type: "firewall", keepalive: 5000, max_lifetime: 2000 }, 0), {
    keepaliveMs: 5000,
    deadline: 2000,
    maxDeadline: 2000,
  });
  assert.deepEqual(timerPlan({ type: "firewall", max_lifetime: 2000 }, 0), {
    keepaliveMs: undefined,
    deadline: 2000,
    maxDeadline: 2000,
  });
  assert.equal(timerKey(1, 2, parseIp("::ffff:10.0.0.1")!), "1|2|10.0.0.1");
});

Deno.test("timers: destructor runs once when no keepalive arrives; renewals extend", async () => {
  await withStore(async (store) => {
    const { runs, run } = recorder();
    const t = new TimerManager(store, run);
    await t.start();
    const start = Date.now();
    await t.arm(spec("a"), { keepaliveMs: 300, deadline: start + 300 });
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      assert.ok(await t.renew(key("a")), "renewed while armed");
    }
    assert.equal(runs.length, 0, "renewals kept it alive past the first deadline");
    await sleep(500);
    await t.idle();
    assert.equal(runs.length, 1);
    assert.equal(runs[0].reason, "keepalive_lapsed");
    assert.ok(runs[0].at - start >= 600 + 300 - 20, `ran at +${runs[0].at - start} ms`);
    assert.equal(await t.renew(key("a")), undefined, "a finished session is not renewed");
    const stored = await store.get<TimerRecord>("timers", key("a"));
    assert.equal(stored?.value.state, "done");
    assert.equal(stored?.value.ok, true);
    await t.stop();
  });
});

Deno.test("timers: max_lifetime ends a session that keeps renewing", async () => {
  await withStore(async (store) => {
    const { runs, run } = recorder();
    const t = new TimerManager(store, run);
    const start = Date.now();
    // Keepalive well above the renew period, so a loaded machine cannot lapse it by accident.
    await t.arm(spec("m"), { keepaliveMs: 600, deadline: start + 600, maxDeadline: start + 900 });
    const until = start + 1500;
    while (Date.now() < until) {
      await t.renew(key("m"));
      await sleep(50);
    }
    await t.idle();
    assert.equal(runs.length, 1);
    assert.equal(runs[0].reason, "max_lifetime");
    assert.ok(runs[0].at - start >= 880 && runs[0].at - start < 1400, `+${runs[0].at - start}`);
    await t.stop();
  });
});

Deno.test("timers: cancel never runs; fire runs now, once", async () => {
  await withStore(async (store) => {
    const { runs, run } = recorder();
    const t = new TimerManager(store, run);
    await t.arm(spec("c"), { deadline: Date.now() + 200 });
    await t.arm(spec("f"), { deadline: Date.now() + 60_000 });
    assert.equal(await t.cancel(key("c")), true);
    assert.equal(await t.fire(key("f")), true);
    assert.equal(await t.fire(key("f")), false);
    await sleep(300);
    await t.idle();
    assert.deepEqual(runs.map((r) => [named(r.key), r.reason]), [["f", "revoked"]]);
    assert.equal(await store.get("timers", key("c")), undefined);
    await t.stop();
  });
});

Deno.test("timers: restart loads armed timers, runs overdue at once, skips done", async () => {
  await withStore(async (store) => {
    const first = recorder();
    const t1 = new TimerManager(store, first.run);
    await t1.arm(spec("due"), { deadline: Date.now() + 100 });
    await t1.arm(spec("later"), { deadline: Date.now() + 600 });
    await t1.arm(spec("ran"), { deadline: Date.now() + 10 });
    await sleep(50);
    await t1.idle();
    await t1.stop(); // "process" gone; due and later still armed in the store
    assert.deepEqual(first.runs.map((r) => named(r.key)), ["ran"]);
    await sleep(200);
    const second = recorder();
    const t2 = new TimerManager(store, second.run);
    const restarted = Date.now();
    await t2.start();
    await sleep(30);
    await t2.idle();
    assert.deepEqual(second.runs.map((r) => named(r.key)), ["due"], "overdue runs at once");
    assert.ok(second.runs[0].at - restarted < 100);
    await sleep(600);
    await t2.idle();
    assert.deepEqual(second.runs.map((r) => named(r.key)), ["due", "later"]);
    await t2.stop();
  });
});

interface Child {
  proc: Deno.ChildProcess;
  /** Waits (bounded) until the child printed the line `want`. */
  waitFor(want: string, ms?: number): Promise<void>;
}

function spawnChild(args: string[]): Child {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_timer_child.ts", import.meta.url).pathname, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const seen: string[] = [];
  let partial = "";
  let ended = false;
  const pump = (async () => {
    for (;;) {
      const r = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (r.done) break;
      partial += r.value;
      const parts = partial.split("\n");
      partial = parts.pop()!;
      seen.push(...parts);
    }
    ended = true;
  })();
  return {
    proc,
    async waitFor(want, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!seen.includes(want)) {
        if (ended) throw new Error(`child exited before printing ${want}: ${seen.join("|")}`);
        if (Date.now() > deadline) {
          throw new Error(`child did not print ${want}: ${seen.join("|")}`);
        }
        await sleep(20);
      }
      seen.splice(seen.indexOf(want), 1);
      void pump;
    },
  };
}

async function kill9(child: Child): Promise<void> {
  child.proc.kill("SIGKILL");
  await child.proc.status;
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l.length > 0);
  } catch {
    return [];
  }
}

Deno.test("timers: kill -9 while armed, restart: the destructor runs once, on time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-kill9-" });
  const out = `${dir}/destructor.log`;
  try {
    const a = spawnChild([`${dir}/state`, out, "arm", "1500"]);
    const armedAt = Date.now();
    await a.waitFor("ready");
    await kill9(a);
    assert.deepEqual(await lines(out), [], "nothing ran before the crash");
    // Restart before the deadline: it must wait for it, then run once.
    const b = spawnChild([`${dir}/state`, out, "resume"]);
    await b.waitFor("ready");
    await b.waitFor("done");
    const ranAt = Date.now();
    assert.ok(ranAt - armedAt >= 1400, `ran ${ranAt - armedAt} ms after arming`);
    await kill9(b);
    // A third start must not run it again.
    const c = spawnChild([`${dir}/state`, out, "resume"]);
    await c.waitFor("ready");
    await sleep(700);
    await kill9(c);
    const got = await lines(out);
    assert.equal(got.length, 1, got.join("\n"));
    assert.match(got[0], /^ran attempt=1 reason=keepalive_lapsed user=alice at=\d+$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("timers: kill -9 after the deadline passed: runs at once on restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-kill9-" });
  const out = `${dir}/destructor.log`;
  try {
    const a = spawnChild([`${dir}/state`, out, "arm", "800"]);
    await a.waitFor("ready");
    await kill9(a);
    await sleep(1200); // overdue while "down"
    const b = spawnChild([`${dir}/state`, out, "resume"]);
    await b.waitFor("done", 5000);
    await kill9(b);
    assert.equal((await lines(out)).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("timers: kill -9 while the destructor runs: re-run on restart (at-least-once, attempt 2)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-kill9-" });
  const out = `${dir}/destructor.log`;
  try {
    // The destructor sleeps 3 s before writing; the process dies in that window.
    const a = spawnChild([`${dir}/state`, out, "arm", "200", "3"]);
    await a.waitFor("ready");
    await sleep(1200);
    await kill9(a); // the setsid-ed destructor child outlives it and may still write
    const b = spawnChild([`${dir}/state`, out, "resume", "0", "0"]);
    await b.waitFor("done", 10_000);
    await kill9(b);
    await sleep(2500); // let the orphaned first attempt finish too
    const got = await lines(out);
    assert.ok(got.some((l) => l.startsWith("ran attempt=2 reason=recovered")), got.join("\n"));
    assert.ok(got.length <= 2, got.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

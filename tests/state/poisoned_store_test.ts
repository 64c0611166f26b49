/**
 * The attacker owns the state store: records written straight into Deno KV and into Redis
 * (bypassing every writer of ours) try to run a command as root, inject nft syntax, open
 * ports of their choosing, and crash the start with junk. The real ActionSessions (with
 * nftables in a namespace) and SourceDefense then start over that store: nothing of the
 * attacker's runs, nothing reaches nft, and each refusal is counted and logged — while the
 * valid records beside them still work (so the test can fail).
 * @module
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import type { LogRecord } from "@logtape/logtape";
import { KvStateStore } from "../../src/state/kv.ts";
import { RedisStateStore } from "../../src/state/redis.ts";
import type { StateStore } from "../../src/state/store.ts";
import { ActionSessions, type SessionCatalog } from "../../src/actions/sessions.ts";
import { TIMER_FORMAT } from "../../src/actions/timers.ts";
import { NftGrants } from "../../src/nft/grants.ts";
import { SourceDefense } from "../../src/policy/defense.ts";
import { RateLimitSchema } from "../../src/config/schema.ts";
import { parseIp } from "../../src/util/ip.ts";
import { renderMessage, setupLogging, tapLogs } from "../../src/util/log.ts";
import { skipNetns, withNs } from "../_helpers/netns.ts";
import { startRedis } from "../_helpers/redis.ts";
import { skipWithout } from "../_helpers/system.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INJECT = "fe80::1%x } ; flush ruleset";

/** A raw writer into a store, under our namespaces, with no checks at all. */
interface RawWriter {
  /** Writes `value` as the whole stored envelope (any JSON, or a raw string for Redis). */
  envelope(ns: string, key: string, value: unknown): Promise<void>;
  /** Writes a raw (non-JSON) text where an envelope should be. */
  text(ns: string, key: string, text: string): Promise<void>;
  close(): Promise<void>;
}

function catalog(marker: string): SessionCatalog {
  return {
    actions: new Map([
      [1, {
        config: {
          id: 1,
          name: "ssh",
          type: "firewall",
          firewall: {
            ports: [{ proto: "tcp", port: 22 }],
            duration: 60_000,
            allow_payload_address: false,
          },
          keepalive: 30_000,
          destructor: "revoke",
          timeout: 5000,
          output_cap: 1024,
        },
      }],
      [2, {
        config: {
          id: 2,
          name: "session",
          type: "exec",
          command: ["/bin/true"],
          keepalive: 30_000,
          destructor: [
            "/bin/sh",
            "-c",
            'echo "$SIGLATCH_USER $SIGLATCH_SOURCE_IP" >> "$0"',
            marker,
          ],
          timeout: 5000,
          output_cap: 1024,
        },
      }],
    ]),
    users: new Map([[1, { config: { id: 1, name: "alice" }, actionIds: new Set([1, 2]) }]]),
  };
}

/** A timer record in the current format (v2), overdue, for `spec`. */
function timer(spec: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const now = Date.now();
  return {
    v: TIMER_FORMAT,
    key: `${spec.userId}|${spec.actionId}|${spec.grantAddress ?? spec.source}`,
    id: crypto.randomUUID(),
    state: "armed",
    spec,
    deadline: now - 1000,
    armedAt: now - 60_000,
    renewedAt: now - 60_000,
    renewals: 0,
    attempts: 0,
    ...extra,
  };
}

async function poison(raw: RawWriter, pwned: string): Promise<number> {
  const now = Date.now();
  const env = (v: unknown) => ({ v, e: now + 3_600_000 });
  let n = 0;
  const put = async (ns: string, key: string, value: unknown) => {
    await raw.envelope(ns, key, value);
    n++;
  };
  // --- timers: a stored command as root (the old format), and its v2 look-alikes
  const rootCmd = ["/bin/sh", "-c", `touch ${pwned}`];
  await put("timers", "1|2|192.0.2.66", {
    v: {
      key: "1|2|192.0.2.66",
      id: crypto.randomUUID(),
      state: "armed",
      spec: { exec: { argv: rootCmd, env: { LD_PRELOAD: "/tmp/x.so" }, uid: 0, gid: 0 } },
      deadline: now - 1000,
      armedAt: now,
      renewedAt: now,
      renewals: 0,
      attempts: 0,
    },
  });
  const base = { actionId: 2, action: "session", kind: "exec", userId: 1, source: "192.0.2.67" };
  await put("timers", "1|2|192.0.2.67", env(timer({ ...base, argv: rootCmd, uid: 0 })));
  await put(
    "timers",
    "1|2|192.0.2.68",
    env(
      timer({ ...base, source: "192.0.2.68" }, { spec: { ...base, source: "192.0.2.68" }, uid: 0 }),
    ),
  );
  await put("timers", `1|2|${INJECT}`, env(timer({ ...base, source: INJECT })));
  await put(
    "timers",
    "1|2|192.0.2.69",
    env(timer({ ...base, source: "192.0.2.69" }, { deadline: "soon" })),
  );
  await put(
    "timers",
    "1|2|192.0.2.70",
    env(timer({ ...base, source: "192.0.2.70" }, { detail: "x".repeat(30_000) })),
  );
  await put(
    "timers",
    "1|2|192.0.2.71",
    env(timer({ ...base, source: "192.0.2.71", actionId: 2.5 })),
  );
  await put("timers", "1|2|192.0.2.72", env("not a record"));
  await put("timers", "mismatch", env(timer({ ...base, source: "192.0.2.73" })));
  await raw.text("timers", "raw", "{not json");
  n++;
  // Well-formed, but naming an action the config no longer has, or has as another type:
  // dropped when they fire (the revoke of a firewall session still happens; it only closes).
  const gone = { ...base, actionId: 3, action: "gone", source: "192.0.2.74" };
  await put("timers", "1|3|192.0.2.74", env(timer(gone)));
  const retyped = { ...base, kind: "firewall", source: "192.0.2.75", grantAddress: "192.0.2.75" };
  await put("timers", "1|2|192.0.2.75", env(timer(retyped)));
  // --- grants: nft syntax in the address, junk ports, wrong types
  const grant = (address: string, extra: Record<string, unknown> = {}) => ({
    key: `1|ssh|${address}`,
    userId: 1,
    user: "alice",
    action: "ssh",
    address,
    source: address,
    ports: [{ proto: "tcp", port: 22 }],
    createdAt: now,
    renewedAt: now,
    expiresAt: now + 600_000,
    ...extra,
  });
  await put("grants", `1|ssh|${INJECT}`, env(grant(INJECT)));
  await put(
    "grants",
    "1|ssh|203.0.113.70",
    env(grant("203.0.113.70", { ports: [{ proto: "tcp } ; flush ruleset", port: 22 }] })),
  );
  await put("grants", "1|ssh|203.0.113.71", env(grant("203.0.113.71", { userId: "1" })));
  await put("grants", "1|ssh|127.0.0.1", env(grant("127.0.0.1")));
  await put(
    "grants",
    "9|ssh|203.0.113.72",
    env(grant("203.0.113.72", { key: "9|ssh|203.0.113.72", userId: 9 })),
  );
  await put(
    "grants",
    "1|other|203.0.113.73",
    env(grant("203.0.113.73", { key: "1|other|203.0.113.73", action: "other" })),
  );
  // --- bans: junk sources and values
  await put(
    "bans",
    "10.0.0.1 } ; flush ruleset",
    env({ reason: "x", until: now + 60_000, count: 1, created: now }),
  );
  await put("bans", "10.0.0.2", env("junk"));
  await put("bans", "10.0.0.3", env({ reason: "x", until: "never", count: 1, created: now }));
  await put(
    "bans",
    "10.0.0.4",
    env({ reason: "r".repeat(10_000), until: now + 60_000, count: 1, created: now }),
  );
  await put("bans", "2001:DB8::1", env({ reason: "x", permanent: true, count: 1, created: now }));
  return n;
}

/** Valid records beside the poison: they must still work. */
async function valid(store: StateStore): Promise<void> {
  const now = Date.now();
  const good = timer({
    actionId: 2,
    action: "session",
    kind: "exec",
    userId: 1,
    source: "192.0.2.10",
  });
  await store.set("timers", good.key, good, now + 3_600_000);
  await store.set("grants", "1|ssh|203.0.113.5", {
    key: "1|ssh|203.0.113.5",
    userId: 1,
    user: "alice",
    action: "ssh",
    address: "203.0.113.5",
    source: "203.0.113.5",
    // Stored with an extra port: only the config's tcp/22 may open.
    ports: [{ proto: "tcp", port: 22 }, { proto: "tcp", port: 23 }],
    createdAt: now,
    renewedAt: now,
    expiresAt: now + 600_000,
  }, now + 600_000);
  await store.set("bans", "198.51.100.9", {
    reason: "flood",
    until: now + 600_000,
    count: 1,
    created: now,
  }, now + 600_000);
}

async function attack(store: StateStore, raw: RawWriter): Promise<void> {
  setupLogging({ level: "info", format: "text" });
  const lines: string[] = [];
  const untap = tapLogs((r: LogRecord) => lines.push(renderMessage(r)));
  const dir = await Deno.makeTempDir({ prefix: "siglatch-poison-" });
  const pwned = `${dir}/pwned`;
  const marker = `${dir}/destructor.log`;
  try {
    const poisoned = await poison(raw, pwned);
    await valid(store);
    await withNs(async (ns) => {
      const sessions = await ActionSessions.open(store, true, {
        nftGrants: new NftGrants({ netns: ns }),
        catalog: () => catalog(marker),
      });
      const defense = new SourceDefense(RateLimitSchema.parse({}), store, { refreshMs: 0 });
      try {
        await defense.start();
        await sleep(100);
        await sessions.timers.idle();
        // Nothing of the attacker's ran; the valid destructor ran the config's command.
        assert.equal(await exists(pwned), false, "the stored command ran");
        assert.deepEqual((await Deno.readTextFile(marker)).trim().split("\n"), [
          "alice 192.0.2.10",
        ]);
        // Only the valid grant reached nft, with the config's port only.
        const elems = (await sessions.grants!.nft.list()).map((e) =>
          `${e.address} ${e.proto}/${e.port}`
        );
        assert.deepEqual(elems, ["203.0.113.5 tcp/22"]);
        // Only the valid ban is held.
        assert.deepEqual(defense.admit(parseIp("198.51.100.9")!), { ok: false, reason: "banned" });
        assert.equal(defense.counters().bans_active, 1);
        // Every poisoned record counted, and logged by key.
        const counts = store.audit.counts();
        assert.equal(counts.timers, 12, JSON.stringify(counts));
        assert.equal(counts.grants, 6, JSON.stringify(counts));
        assert.equal(counts.bans, 5, JSON.stringify(counts));
        assert.equal(store.audit.total, poisoned);
        const skipped = lines.filter((l) => l.includes("skipped"));
        assert.ok(skipped.some((l) => l.includes("old format")), skipped.join("\n"));
        assert.ok(lines.some((l) => l.includes("action 3 (gone) is no longer in the config")));
        assert.ok(lines.some((l) => l.includes("is now of type exec, not firewall")));
        assert.ok(skipped.some((l) => l.includes("flush ruleset")), "the injected key is named");
        assert.ok(lines.every((l) => !l.includes("\n")), "log lines stay one line");
      } finally {
        await defense.stop();
        await sessions.stop();
        await sessions.grants!.nft.teardown().catch(() => {});
      }
    });
  } finally {
    untap();
    await Deno.remove(dir, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "poisoned Deno KV store: stored commands, nft injection and junk are refused, counted, logged",
  ignore: skipNetns(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "siglatch-poison-kv-" });
    const store = await KvStateStore.open(dir);
    const kv = await Deno.openKv(`${dir}/state.kv`);
    const raw: RawWriter = {
      envelope: async (ns, key, value) => void await kv.set(["rec", ns, key], value),
      text: async (ns, key, text) => void await kv.set(["rec", ns, key], text),
      close: () => Promise.resolve(kv.close()),
    };
    try {
      await attack(store, raw);
    } finally {
      await raw.close();
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "poisoned Redis store: stored commands, nft injection and junk are refused, counted, logged",
  ignore: skipNetns() || skipWithout("redis-server", "redis-server"),
  async fn() {
    const redis = await startRedis();
    const store = await RedisStateStore.connect(redis.url, { prefix: "p:" });
    const client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    const raw: RawWriter = {
      envelope: async (ns, key, value) =>
        void await client.hset(`p:rec:${ns}`, key, JSON.stringify(value)),
      text: async (ns, key, text) => void await client.hset(`p:rec:${ns}`, key, text),
      close: async () => void await client.quit(),
    };
    try {
      await attack(store, raw);
      // A namespace overwritten with another Redis type is refused, not fatal.
      await client.del("p:rec:grants");
      await client.set("p:rec:grants", "boom");
      assert.deepEqual(await store.list("grants", Date.now()), []);
      assert.equal(store.audit.counts().grants, 7);
    } finally {
      await raw.close();
      await store.close();
      await redis.stop();
    }
  },
});

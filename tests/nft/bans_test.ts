/**
 * The nftables ban mirror on a real kernel, inside a network namespace this test creates
 * and deletes (never the host's ruleset): elements with timeouts land in banned_v4 /
 * banned_v6, datagrams from a banned source never reach a listening socket while others do,
 * a ban expires in the kernel, and teardown removes only our chain and sets.
 *
 * One namespace, everything on its loopback: 127.0.0.0/8 gives many IPv4 sources, and two
 * IPv6 addresses in different /64s are added (nodad). Loopback traffic passes prerouting.
 */
import assert from "node:assert/strict";
import { skipUnlessRoot, skipWithout } from "../_helpers/system.ts";
import { NftBans } from "../../src/nft/bans.ts";
import { SourceDefense } from "../../src/policy/defense.ts";
import type { Ban } from "../../src/policy/ratelimit.ts";
import { RateLimitSchema } from "../../src/config/schema.ts";
import { KvStateStore } from "../../src/state/kv.ts";
import { parseIp } from "../../src/util/ip.ts";

const ignore = skipUnlessRoot("nftables e2e") || skipWithout("nft", "nftables") ||
  skipWithout("ip", "iproute2");

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(args: string[], stdin?: string, ms = 20_000): Promise<Run> {
  const child = new Deno.Command(args[0], {
    args: args.slice(1),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(ms),
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await child.output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

async function must(args: string[], stdin?: string): Promise<string> {
  const r = await run(args, stdin);
  if (r.code !== 0) throw new Error(`${args.join(" ")} failed (${r.code}): ${r.err}`);
  return r.out;
}

/** Runs `fn` with a fresh namespace; always deletes it. The whole thing is bounded in time. */
async function withNamespace(fn: (ns: string) => Promise<void>, ms = 90_000): Promise<void> {
  const ns = `siglatch-t-${crypto.randomUUID().slice(0, 8)}`;
  await must(["ip", "netns", "add", ns]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await must(["ip", "-n", ns, "link", "set", "lo", "up"]);
    for (const a of ["fd00:1::2/128", "fd00:2::2/128"]) {
      await must(["ip", "-n", ns, "addr", "add", a, "dev", "lo", "nodad"]);
    }
    await Promise.race([
      fn(ns),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`test timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await run(["ip", "netns", "del", ns]);
  }
}

const nftIn = (ns: string) => ["ip", "netns", "exec", ns, "nft"];

/** Elements of one of our sets: `addr` or `addr/len` → timeout (s) or null. */
async function elements(ns: string, set: string): Promise<Map<string, number | null>> {
  const out = await must([...nftIn(ns), "-j", "list", "set", "inet", "siglatch", set]);
  const parsed = JSON.parse(out) as { nftables: Record<string, { elem?: unknown[] }>[] };
  const result = new Map<string, number | null>();
  for (const item of parsed.nftables) {
    for (const e of item.set?.elem ?? []) {
      // Plain: "1.2.3.4"; with timeout: {elem: {val, timeout, expires}}; prefix: {prefix: {addr, len}}.
      const body = (typeof e === "object" && e !== null && "elem" in e)
        ? (e as { elem: { val: unknown; timeout?: number } }).elem
        : { val: e, timeout: undefined };
      const v = body.val as string | { prefix: { addr: string; len: number } };
      const key = typeof v === "string" ? v : `${v.prefix.addr}/${v.prefix.len}`;
      result.set(key, body.timeout ?? null);
    }
  }
  return result;
}

/** A script run inside the namespace: listens, sends from several sources, reports arrivals. */
const PROBE = `
const [port, otherPort] = Deno.args.slice(0, 2).map(Number);
const sends = JSON.parse(Deno.args[2]);
const got = [];
const listen = (hostname, p) => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname, port: p });
  (async () => {
    try {
      for (;;) {
        const [, addr] = await conn.receive();
        got.push(addr.hostname + ">" + p);
      }
    } catch { /* closed */ }
  })();
  return conn;
};
const conns = [listen("127.0.0.1", port), listen("::1", port), listen("127.0.0.1", otherPort)];
for (const [src, dst, p] of sends) {
  const s = Deno.listenDatagram({ transport: "udp", hostname: src, port: 0 });
  for (let i = 0; i < 3; i++) await s.send(new Uint8Array([1, 2, 3]), { transport: "udp", hostname: dst, port: p });
  s.close();
}
await new Promise((r) => setTimeout(r, 300));
for (const c of conns) c.close();
console.log(JSON.stringify([...new Set(got)].sort()));
`;

async function probe(ns: string, port: number, otherPort: number): Promise<string[]> {
  const sends = [
    ["127.0.0.2", "127.0.0.1", port],
    ["127.0.0.3", "127.0.0.1", port],
    ["127.0.0.9", "127.0.0.1", port],
    ["fd00:1::2", "::1", port],
    ["fd00:2::2", "::1", port],
    ["127.0.0.2", "127.0.0.1", otherPort],
  ];
  const out = await must([
    "ip",
    "netns",
    "exec",
    ns,
    Deno.execPath(),
    "eval",
    "--unstable-net",
    "--no-config",
    PROBE,
    String(port),
    String(otherPort),
    JSON.stringify(sends),
  ]);
  return JSON.parse(out.trim().split("\n").at(-1)!) as string[];
}

/** Packets counted by our drop rules. */
async function dropped(ns: string): Promise<number> {
  const out = await must([...nftIn(ns), "list", "chain", "inet", "siglatch", "bans"]);
  let n = 0;
  for (const m of out.matchAll(/counter packets (\d+)/g)) n += Number(m[1]);
  return n;
}

const mkBan = (source: string, until: number | null): Ban => ({
  source,
  family: source.includes(":") ? 6 : 4,
  reason: "test",
  created: Date.now(),
  until,
  count: 1,
});

Deno.test({
  name:
    "nft bans: kernel drops banned sources to our port, elements time out, teardown is ours only",
  ignore,
  fn: () =>
    withNamespace(async (ns) => {
      // Another feature's object in the shared table, and somebody else's table.
      await must(
        [...nftIn(ns), "-f", "-"],
        "add table inet siglatch\nadd set inet siglatch grants_v4 { type ipv4_addr; }\n" +
          "add table inet other\nadd chain inet other c { type filter hook input priority 0; }\n",
      );
      const port = 40000 + Math.floor(Math.random() * 10000), otherPort = port + 1;
      const errors: string[] = [];
      const nft = new NftBans({
        command: nftIn(ns),
        ports: [port],
        onError: (m) => errors.push(m),
      });
      const now = Date.now();
      await nft.setup([mkBan("127.0.0.9", null)]);
      nft.ban(mkBan("127.0.0.2", now + 60_000));
      nft.ban(mkBan("fd00:1::/64", now + 60_000));
      nft.ban(mkBan("127.0.0.4", now + 1500));
      await nft.flush();
      assert.deepEqual(errors, []);

      const v4 = await elements(ns, "banned_v4");
      assert.equal(v4.get("127.0.0.9"), null, "permanent: no timeout");
      const t = v4.get("127.0.0.2");
      assert.ok(typeof t === "number" && t >= 59 && t <= 60, `timeout ${t}`);
      assert.ok(v4.has("127.0.0.4"));
      const v6 = await elements(ns, "banned_v6");
      assert.ok(v6.has("fd00:1::/64"), [...v6.keys()].join(","));

      // Banned sources do not reach the socket on our port; others do; other ports unaffected.
      const got = await probe(ns, port, otherPort);
      assert.deepEqual(got, [
        "127.0.0.2>" + otherPort,
        "127.0.0.3>" + port,
        "fd00:2::2>" + port,
      ]);
      assert.ok((await dropped(ns)) >= 9, "3 datagrams × 3 banned sources counted as dropped");

      // A re-ban replaces the timeout (idempotent idiom), an unban removes the element.
      nft.ban(mkBan("127.0.0.2", Date.now() + 600_000));
      nft.unban("127.0.0.9");
      nft.unban("127.0.0.77"); // never banned: must not fail the batch
      await nft.flush();
      assert.deepEqual(errors, []);
      const after = await elements(ns, "banned_v4");
      assert.ok((after.get("127.0.0.2") ?? 0) >= 599);
      assert.equal(after.has("127.0.0.9"), false);
      const got2 = await probe(ns, port, otherPort);
      assert.ok(got2.includes(`127.0.0.9>${port}`));
      assert.ok(!got2.includes(`127.0.0.2>${port}`));

      // The short ban expired in the kernel by itself.
      await new Promise((r) => setTimeout(r, Math.max(0, now + 2500 - Date.now())));
      assert.equal((await elements(ns, "banned_v4")).has("127.0.0.4"), false);

      // Teardown: our chain and sets go; the table stays for grants_v4; `other` untouched.
      await nft.teardown();
      const ruleset = await must([...nftIn(ns), "list", "ruleset"]);
      assert.match(ruleset, /table inet siglatch/);
      assert.match(ruleset, /set grants_v4/);
      assert.doesNotMatch(ruleset, /banned_v4|banned_v6|ban_ports|chain bans/);
      assert.match(ruleset, /table inet other/);

      // With nothing else left in it, teardown also deletes the table.
      await must([...nftIn(ns), "delete", "set", "inet", "siglatch", "grants_v4"]);
      const again = new NftBans({ command: nftIn(ns), ports: [port] });
      await again.setup();
      await again.setup(); // idempotent
      await again.teardown();
      const final = await must([...nftIn(ns), "list", "tables"]);
      assert.doesNotMatch(final, /siglatch/);
      assert.match(final, /table inet other/);
    }),
});

Deno.test({
  name: "nft bans: SourceDefense mirrors a failure ban into the kernel and tears down on stop",
  ignore,
  fn: () =>
    withNamespace(async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "siglatch-nftdef-" });
      const store = await KvStateStore.open(dir);
      try {
        const port = 40000 + Math.floor(Math.random() * 10000);
        const cfg = RateLimitSchema.parse({
          nftables: true,
          nftables_scope: "all",
          fail_burst: 3,
          ban_time: "10m",
        });
        const defense = new SourceDefense(cfg, store, {
          nftCommand: nftIn(ns),
          ports: [port],
          refreshMs: 0,
          nftReconcileMs: 100,
        });
        await defense.start();
        const src = parseIp("127.0.0.2")!;
        let ban: Ban | null = null;
        for (let i = 0; i < 10 && !ban; i++) ban = defense.failed(src, "bad_mac1", true);
        assert.ok(ban);
        await defense.nft!.flush();
        const t = (await elements(ns, "banned_v4")).get("127.0.0.2");
        assert.ok(typeof t === "number" && t >= 599 && t <= 600, `timeout ${t}`);
        // Scope "all": every port is closed to it.
        const got = await probe(ns, port, port + 1);
        assert.ok(!got.some((g) => g.startsWith("127.0.0.2>")), got.join(","));
        assert.ok(got.includes(`127.0.0.3>${port}`));
        // The periodic probe puts the ban back after a flush; status says so.
        assert.equal(defense.reconcileStatus()?.repairs, 0);
        await must([...nftIn(ns), "flush", "ruleset"]);
        const deadline = Date.now() + 10_000;
        while (!(await elements(ns, "banned_v4").catch(() => new Map())).has("127.0.0.2")) {
          assert.ok(Date.now() < deadline, "ban not restored by the periodic probe");
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(defense.reconcileStatus()?.repairs, 1);
        assert.deepEqual(defense.reconcileStatus()?.repaired, ["table"]);
        const c = defense.counters();
        assert.equal(c.bans_temporary, 1);
        assert.ok(c.nft_batches >= 2);
        assert.equal(c.nft_batch_errors, 0);
        await defense.stop();
        const tables = await must([...nftIn(ns), "list", "tables"]);
        assert.doesNotMatch(tables, /siglatch/);
      } finally {
        await store.close();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }),
});

/**
 * Server decoys against a real daemon (root: privilege separation, the decoy ports bound
 * before the network part drops root) on loopback addresses: a banner decoy greets, a
 * tarpit holds connections up to its bound, a UDP decoy answers random bytes never longer
 * than the datagram, only to its source, within the per-source and global rates; hits are
 * counted and ban a source only when `decoys.ban` is on.
 */
import assert from "node:assert/strict";
import { makeFixture, startDaemon } from "../_helpers/daemon.ts";
import { AdminClient } from "../../src/client/admin/client.ts";
import { answerLength, DecoyLimiter } from "../../src/stealth/decoys.ts";
import { loadConfigText } from "../../src/config/load.ts";
import { freePortRun } from "./_ports.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BANNER = "220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n";

/** Reads everything until the peer closes (bounded by `ms`); null when it did not close. */
async function readToEnd(conn: Deno.Conn, ms = 5000): Promise<string | null> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(1024);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const n = await Promise.race([conn.read(buf), sleep(deadline - Date.now()).then(() => -1)]);
    if (n === -1) return null;
    if (n === null) break;
    chunks.push(buf.slice(0, n as number));
  }
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

/** Sends `data` from `from` to `to` and returns the answer, or null after `ms`. */
async function udpAsk(
  from: string,
  to: Deno.NetAddr,
  data: Uint8Array,
  ms = 700,
): Promise<{ answer: Uint8Array; source: Deno.NetAddr } | null> {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: from, port: 0 });
  try {
    await sock.send(data, to);
    const r = await Promise.race([sock.receive(), sleep(ms).then(() => null)]);
    return r ? { answer: r[0], source: r[1] as Deno.NetAddr } : null;
  } finally {
    sock.close();
  }
}

async function withAdmin<T>(dir: string, fn: (a: AdminClient) => Promise<T>): Promise<T> {
  const admin = await AdminClient.connect(`${dir}/run/admin.sock`);
  try {
    return await fn(admin);
  } finally {
    admin.close();
  }
}

async function counters(admin: AdminClient): Promise<Record<string, number>> {
  const r = await admin.request("status", {}, 10_000);
  if (!r.ok) throw new Error(r.error);
  return (r.result as { counters: Record<string, number> }).counters;
}

async function bans(admin: AdminClient): Promise<string> {
  const r = await admin.request("list", { what: "bans" }, 10_000);
  if (!r.ok) throw new Error(r.error);
  return JSON.stringify(r.result);
}

Deno.test(
  "decoys: an answer is at least half and never more than the datagram; max_sources bounds the table",
  () => {
    for (const n of [0, 1, 2, 3, 10, 1200, 2048]) {
      for (const r of [0, 0.25, 0.5, 0.999999]) {
        const len = answerLength(n, r);
        assert.ok(len <= n, `${n}/${r}: ${len}`);
        assert.ok(len >= Math.ceil(n / 2), `${n}/${r}: ${len}`);
      }
    }
    const lim = new DecoyLimiter({ rate: 1000, per_source_rate: 1, max_sources: 16 });
    assert.equal(lim.allow("192.0.2.1", 0), true);
    assert.equal(lim.allow("192.0.2.1", 10), false, "per source: burst 1");
    assert.equal(lim.allow("192.0.2.1", 1010), true, "one per second");
    for (let i = 0; i < 100; i++) lim.allow(`192.0.2.${i + 2}`, 2000);
    assert.equal(lim.sources, 16, "the source table stays bounded");
  },
);

Deno.test("decoys: the config refuses unknown types and zero rates", async () => {
  const res = await loadConfigText(
    `decoys:
  rate: 0
  ports:
    - listen: "127.0.0.2:2222"
      type: honeypot
`,
    "/tmp/x.yaml",
  );
  const paths = res.findings.map((f) => f.path);
  assert.ok(paths.includes("decoys.rate"), JSON.stringify(res.findings));
  assert.ok(paths.includes("decoys.ports[0].type"), JSON.stringify(res.findings));
});

Deno.test({
  name:
    "decoys: a banner greets, a tarpit holds up to max_connections, UDP answers are never larger than the request; hits are counted and do not ban when ban is off",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const base = freePortRun(3, ["127.0.0.2"]);
    const fx = await makeFixture({
      top: {
        // One proven failure would ban: decoy hits must not count as one (ban: false).
        rate_limit: { fail_rate: 0.01, fail_burst: 1 },
        decoys: {
          rate: 1000,
          per_source_rate: 100,
          ports: [
            { listen: `127.0.0.2:${base}`, type: "banner", banner: BANNER },
            {
              listen: `127.0.0.2:${base + 1}`,
              type: "tarpit",
              interval: "100ms",
              max_connections: 2,
            },
            { listen: `127.0.0.2:${base + 2}`, type: "random" },
          ],
        },
      },
    });
    const daemon = await startDaemon(fx.config);
    const held: Deno.Conn[] = [];
    try {
      assert.match(daemon.logs(), new RegExp(`decoys on 127\\.0\\.0\\.2:${base}/tcp`));
      // Banner: the greeting, then the connection closes.
      const b = await Deno.connect({ hostname: "127.0.0.2", port: base });
      assert.equal(await readToEnd(b), BANNER);
      b.close();

      // Tarpit: two connections are held and fed bytes; the third is closed at once.
      const tarpit = { hostname: "127.0.0.2", port: base + 1 };
      for (let i = 0; i < 2; i++) held.push(await Deno.connect(tarpit));
      for (const c of held) {
        const buf = new Uint8Array(1);
        assert.equal(await c.read(buf), 1, "a held connection gets a byte");
        assert.notEqual(buf[0], 0);
      }
      const third = await Deno.connect(tarpit);
      assert.equal(await readToEnd(third, 5000), "", "over the bound: closed without a byte");
      third.close();
      // Bytes keep coming, slowly, on the held ones.
      const more = await held[0].read(new Uint8Array(8));
      assert.ok(more !== null && more >= 1);
      // A slot frees when a held connection goes away.
      held.shift()!.close();
      let again: string | null = "";
      for (let i = 0; i < 30 && again !== null; i++) {
        await sleep(100);
        const c = await Deno.connect(tarpit);
        again = await readToEnd(c, 400);
        if (again === null) held.push(c);
        else c.close();
      }
      assert.equal(again, null, "after one left, a new connection is held again");

      // UDP: random answers, only to the source, never longer than what was sent.
      const to = { transport: "udp" as const, hostname: "127.0.0.2", port: base + 2 };
      for (const n of [1, 7, 64, 500, 1400]) {
        const sent = crypto.getRandomValues(new Uint8Array(n));
        const r = await udpAsk("127.0.0.1", to, sent);
        assert.ok(r, `a ${n}-byte datagram is answered`);
        assert.ok(r.answer.length <= n, `answer ${r.answer.length} > request ${n}`);
        assert.ok(r.answer.length >= Math.ceil(n / 2));
        assert.equal(r.source.port, base + 2, "from the decoy port");
      }
      assert.equal(await udpAsk("127.0.0.1", to, new Uint8Array(0), 400), null, "empty: silence");

      await withAdmin(fx.dir, async (admin) => {
        let c = await counters(admin);
        for (let i = 0; i < 20 && (c.decoy_random_hits ?? 0) < 6; i++) {
          await sleep(100);
          c = await counters(admin);
        }
        assert.equal(c.decoy_banner_hits, 1, JSON.stringify(c));
        assert.ok(c.decoy_tarpit_hits >= 4, JSON.stringify(c));
        assert.ok(c.decoy_full >= 1, JSON.stringify(c));
        assert.equal(c.decoy_random_hits, 6, JSON.stringify(c));
        assert.equal(c.decoy_hits, c.decoy_banner_hits + c.decoy_tarpit_hits + 6);
        assert.doesNotMatch(await bans(admin), /127\.0\.0\.1/, "ban: false never bans");
      });
    } finally {
      for (const c of held) c.close();
      await daemon.stop();
      await fx.cleanup();
    }
  },
});

Deno.test({
  name: "decoys: per_source_rate and rate cap the answers; with ban: true hits ban the source",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const base = freePortRun(1, ["127.0.0.2"]);
    const fx = await makeFixture({
      top: {
        rate_limit: { fail_rate: 0.01, fail_burst: 2 },
        decoys: {
          rate: 3,
          per_source_rate: 0.5,
          ban: true,
          ports: [{ listen: `127.0.0.2:${base}`, type: "random" }],
        },
      },
    });
    const daemon = await startDaemon(fx.config);
    const to = { transport: "udp" as const, hostname: "127.0.0.2", port: base };
    try {
      const answered = async (sources: string[]) => {
        const start = Date.now();
        const socks = sources.map((hostname) =>
          Deno.listenDatagram({ transport: "udp", hostname, port: 0 })
        );
        let got = 0;
        const readers = socks.map(async (s) => {
          try {
            for (;;) {
              await s.receive();
              got++;
            }
          } catch {
            // closed
          }
        });
        for (const s of socks) await s.send(new Uint8Array(100), to);
        await sleep(500);
        for (const s of socks) s.close();
        await Promise.all(readers);
        return { got, seconds: (Date.now() - start) / 1000 };
      };
      // Per source: burst 1, then 0.5/s.
      const one = await answered(Array(20).fill("127.0.0.11"));
      assert.ok(one.got >= 1, "the first datagram is answered");
      assert.ok(
        one.got <= 1 + Math.floor(one.seconds * 0.5),
        `${one.got} answers to one source in ${one.seconds} s`,
      );
      // Globally: burst 3, then 3/s, over 20 sources of one datagram each.
      const sources = Array.from({ length: 20 }, (_, i) => `127.0.0.${30 + i}`);
      const many = await answered(sources);
      assert.ok(many.got >= 1);
      assert.ok(
        many.got <= 3 + Math.floor(many.seconds * 3),
        `${many.got} answers to 20 sources in ${many.seconds} s`,
      );
      await withAdmin(fx.dir, async (admin) => {
        let c = await counters(admin);
        for (let i = 0; i < 20 && (c.decoy_hits ?? 0) < 40; i++) {
          await sleep(100);
          c = await counters(admin);
        }
        assert.equal(c.decoy_hits, 40, JSON.stringify(c));
        // Once the flooding source is banned (ban: true), its hits are refused as banned.
        assert.equal(
          c.decoy_limited + (c.decoy_banned ?? 0),
          40 - one.got - many.got,
          JSON.stringify(c),
        );
        // ban: true: the hits were counted as failures and the flooding source is banned.
        let list = await bans(admin);
        for (let i = 0; i < 20 && !/127\.0\.0\.11/.test(list); i++) {
          await sleep(100);
          list = await bans(admin);
        }
        assert.match(list, /127\.0\.0\.11/, "a source that hit the decoy 20 times is banned");
      });
    } finally {
      await daemon.stop();
      await fx.cleanup();
    }
  },
});

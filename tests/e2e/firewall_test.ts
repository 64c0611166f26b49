/**
 * End to end in two network namespaces: a TCP listener on port 2222 in the server namespace
 * behind a host firewall with `policy drop` (table `inet hostfw`, created by the test, with
 * the documented one-line mark rule); grants through the firewall action open it for the
 * client, expiry/revoke close it, keepalive extends it, a payload address works only when
 * allowed; the host table is never changed.
 * @module
 */
import assert from "node:assert/strict";
import { ActionSessions, type SessionAction } from "../../src/actions/sessions.ts";
import { KvStateStore } from "../../src/state/kv.ts";
import { parseIp } from "../../src/util/ip.ts";
import { type NetnsPair, skipNetns, withNetnsPair } from "../_helpers/netns.ts";

const HOSTFW = `table inet hostfw {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif "lo" accept
    meta l4proto { icmp, ipv6-icmp } accept
    meta mark & 0x20000000 == 0x20000000 accept
  }
}
`;

/** The same host firewall in "guard" mode: the port is open here, siglatch closes it. */
const HOSTFW_GUARD = `table inet hostfw {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif "lo" accept
    meta l4proto { icmp, ipv6-icmp } accept
    tcp dport 2222 accept
  }
}
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function action(over: Partial<SessionAction> = {}): SessionAction {
  return {
    id: 10,
    name: "ssh",
    type: "firewall",
    firewall: {
      ports: [{ proto: "tcp", port: 2222 }],
      duration: 2000,
      allow_payload_address: false,
    },
    timeout: 5000,
    output_cap: 1024,
    ...over,
  };
}

async function snapshot(pair: NetnsPair): Promise<{ tables: string; hostfw: string }> {
  const tables = (await pair.run(pair.server, ["nft", "list", "tables"])).stdout;
  const hostfw = (await pair.run(pair.server, ["nft", "list", "table", "inet", "hostfw"])).stdout;
  return { tables, hostfw };
}

async function withSetup(
  hostfw: string,
  fn: (pair: NetnsPair, sessions: ActionSessions, store: KvStateStore) => Promise<void>,
  guard = false,
): Promise<void> {
  await withNetnsPair(async (pair) => {
    await pair.nft(pair.server, hostfw);
    await pair.listen(2222);
    const dir = await Deno.makeTempDir({ prefix: "siglatch-e2e-fw-" });
    const store = await KvStateStore.open(dir);
    const before = await snapshot(pair);
    let sessions: ActionSessions | undefined;
    try {
      sessions = await ActionSessions.open(store, true, {
        nft: { netns: pair.server, guard: guard ? [{ proto: "tcp", port: 2222 }] : undefined },
      });
      await fn(pair, sessions, store);
      await sessions.stop();
      const after = await snapshot(pair);
      assert.equal(after.hostfw, before.hostfw, "the host's table is unchanged");
      assert.deepEqual(
        after.tables.split("\n").filter(Boolean).sort(),
        ["table inet hostfw", "table inet siglatch"],
      );
      await sessions.grants!.nft.teardown();
      assert.equal((await snapshot(pair)).tables.trim(), "table inet hostfw");
    } finally {
      await sessions?.timers.stop();
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

const req = (pair: NetnsPair, a: SessionAction, payload = "", src?: string) => ({
  action: a,
  userId: 1,
  user: "alice",
  source: parseIp(src ?? pair.clientIp)!,
  payload: new TextEncoder().encode(payload),
});

Deno.test({
  name: "e2e firewall: closed, granted (v4+v6), expires, revoke closes at once",
  ignore: skipNetns(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withSetup(HOSTFW, async (pair, sessions) => {
      assert.equal(await pair.canConnect(pair.serverIp, 2222), false, "default drop");
      assert.equal(await pair.canConnect(pair.serverIp6, 2222), false, "default drop v6");
      const a = action();
      const r = await sessions.firewall(req(pair, a));
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.data.address, pair.clientIp);
      assert.equal(await pair.canConnect(pair.serverIp, 2222), true, "granted");
      const r6 = await sessions.firewall(req(pair, a, "", pair.clientIp6));
      assert.ok(r6.ok);
      assert.equal(await pair.canConnect(pair.serverIp6, 2222), true, "granted v6");
      assert.equal(sessions.list(1).grants.length, 2);
      await sleep(2600);
      assert.equal(await pair.canConnect(pair.serverIp, 2222), false, "expired");
      assert.equal(await pair.canConnect(pair.serverIp6, 2222), false, "expired v6");
      assert.equal(sessions.list(1).grants.length, 0);
      // Revoke closes at once.
      await sessions.firewall(
        req(pair, action({ firewall: { ...a.firewall!, duration: 60_000 } })),
      );
      assert.equal(await pair.canConnect(pair.serverIp, 2222), true);
      const revoked = await sessions.revokeUser(1);
      assert.equal(revoked.grants, 1);
      assert.equal(await pair.canConnect(pair.serverIp, 2222), false, "revoked");
    });
  },
});

Deno.test({
  name: "e2e firewall: keepalive extends, lapse revokes via the destructor, max_lifetime bounds",
  ignore: skipNetns(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withSetup(HOSTFW, async (pair, sessions) => {
      const a = action({
        firewall: {
          ports: [{ proto: "tcp", port: 2222 }],
          duration: 60_000,
          allow_payload_address: false,
        },
        keepalive: 1500,
        max_lifetime: 5000,
      });
      const first = await sessions.firewall(req(pair, a));
      assert.ok(first.ok && !first.data.renewed);
      for (let i = 0; i < 3; i++) {
        await sleep(800);
        const again = await sessions.firewall(req(pair, a));
        assert.ok(again.ok && again.data.renewed, "keepalive renews");
      }
      assert.equal(
        await pair.canConnect(pair.serverIp, 2222),
        true,
        "alive past the first keepalive",
      );
      await sleep(2200); // no keepalive: the revoke destructor runs
      await sessions.timers.idle();
      assert.equal(await pair.canConnect(pair.serverIp, 2222), false, "keepalive lapsed: revoked");
      // max_lifetime: renewals every 300 ms until 2.2 s; keepalive (1 s) alone would keep
      // it open until ~3.2 s, max_lifetime (2.5 s) closes it before.
      const b = action({ ...a, keepalive: 1000, max_lifetime: 2500 });
      const start = Date.now();
      while (Date.now() - start < 2200) {
        await sessions.firewall(req(pair, b));
        await sleep(300);
      }
      assert.equal(await pair.canConnect(pair.serverIp, 2222), true, "still inside max_lifetime");
      await sleep(Math.max(0, start + 2800 - Date.now()));
      await sessions.timers.idle();
      assert.equal(await pair.canConnect(pair.serverIp, 2222), false, "max_lifetime ended it");
    });
  },
});

Deno.test({
  name: "e2e firewall: a payload address is opened only when allowed",
  ignore: skipNetns(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withSetup(HOSTFW, async (pair, sessions) => {
      const strict = action();
      const refused = await sessions.firewall(req(pair, strict, pair.clientIpB));
      assert.deepEqual(refused, { ok: false, reason: "payload_address_not_allowed" });
      assert.equal(await pair.canConnect(pair.serverIp, 2222, { from: pair.clientIpB }), false);
      const open = action({ firewall: { ...strict.firewall!, allow_payload_address: true } });
      const ok = await sessions.firewall(req(pair, open, pair.clientIpB));
      assert.ok(ok.ok && ok.data.address === pair.clientIpB);
      assert.equal(
        await pair.canConnect(pair.serverIp, 2222, { from: pair.clientIpB }),
        true,
        "B granted",
      );
      assert.equal(
        await pair.canConnect(pair.serverIp, 2222, { from: pair.clientIp }),
        false,
        "sender not",
      );
    });
  },
});

Deno.test({
  name: "e2e firewall: guard mode (host allows the port, siglatch closes it)",
  ignore: skipNetns(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withSetup(HOSTFW_GUARD, async (pair, sessions) => {
      assert.equal(await pair.canConnect(pair.serverIp, 2222), false, "guarded");
      await sessions.firewall(req(pair, action()));
      assert.equal(await pair.canConnect(pair.serverIp, 2222), true, "granted");
      await sessions.revokeUser(1);
      assert.equal(await pair.canConnect(pair.serverIp, 2222), false, "revoked");
    }, true);
  },
});

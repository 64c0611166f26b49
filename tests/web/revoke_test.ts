/**
 * Revoking grants from the dashboard: a real firewall grant in a network namespace, closed
 * by a `revoke` posted to the web listener (session and CSRF token), through the control
 * socket's handler and the daemon's extension.
 * @module
 */
import assert from "node:assert/strict";
import { ActionSessions, type SessionAction } from "../../src/actions/sessions.ts";
import { AdminControl } from "../../src/admin/control.ts";
import { daemonExtensions, type DefendedDaemon } from "../../src/admin/extensions.ts";
import { KvStateStore } from "../../src/state/kv.ts";
import { parseIp } from "../../src/util/ip.ts";
import { startWeb } from "../../src/web/server.ts";
import { skipNetns, withNetnsPair } from "../_helpers/netns.ts";
import { sampleConfig, TestTarget } from "../admin/_target.ts";

const HOSTFW = `table inet hostfw {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif "lo" accept
    meta mark & 0x20000000 == 0x20000000 accept
  }
}
`;

const SSH: SessionAction = {
  id: 10,
  name: "ssh",
  type: "firewall",
  firewall: {
    ports: [{ proto: "tcp", port: 2222 }],
    duration: 60_000,
    allow_payload_address: false,
  },
  timeout: 5000,
  output_cap: 1024,
};

const TOKEN = "revoke-test-token-0123456789";

Deno.test({
  name: "dashboard revoke closes a user's live firewall grant at once",
  ignore: skipNetns(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNetnsPair(async (pair) => {
      await pair.nft(pair.server, HOSTFW);
      await pair.listen(2222);
      const dir = await Deno.makeTempDir({ prefix: "siglatch-revoke-" });
      const store = await KvStateStore.open(dir);
      const sessions = await ActionSessions.open(store, true, { nft: { netns: pair.server } });
      const config = sampleConfig();
      const daemon = { sessions, runtime: { config } } as unknown as DefendedDaemon;
      const control = new AdminControl(new TestTarget(), { extensions: daemonExtensions(daemon) });
      const web = await startWeb({
        hostname: "127.0.0.1",
        port: 0,
        control,
        metrics: () => "",
        token: TOKEN,
      });
      try {
        const granted = await sessions.firewall({
          action: SSH,
          userId: 1,
          user: "alice",
          source: parseIp(pair.clientIp)!,
          payload: new Uint8Array(),
        });
        assert.ok(granted.ok, JSON.stringify(granted));
        assert.equal(await pair.canConnect(pair.serverIp, 2222), true, "granted");

        const login = await fetch(`${web.url}/login`, {
          method: "POST",
          body: new URLSearchParams({ token: TOKEN }),
          redirect: "manual",
        });
        await login.body?.cancel();
        const cookie = login.headers.get("set-cookie")!.split(";")[0];
        const state = await (await fetch(`${web.url}/api/state`, { headers: { cookie } })).json();
        assert.equal(state.grants.length, 1);
        assert.equal(state.grants[0].user, "alice");
        const r = await fetch(`${web.url}/api/command`, {
          method: "POST",
          headers: { cookie, "x-csrf-token": state.csrf, "content-type": "application/json" },
          body: JSON.stringify({ cmd: "revoke", args: { user: "alice", addr: pair.clientIp } }),
        });
        const body = await r.json();
        assert.equal(r.status, 200, JSON.stringify(body));
        assert.equal(body.result.grants, 1);
        assert.equal(await pair.canConnect(pair.serverIp, 2222), false, "revoked");
        const unknown = await fetch(`${web.url}/api/command`, {
          method: "POST",
          headers: { cookie, "x-csrf-token": state.csrf, "content-type": "application/json" },
          body: JSON.stringify({ cmd: "revoke", args: { user: "mallory" } }),
        });
        assert.match((await unknown.json()).error, /no user named "mallory"/);
      } finally {
        await web.stop();
        await sessions.stop();
        await sessions.grants?.nft.teardown();
        await sessions.timers.stop();
        await store.close();
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});

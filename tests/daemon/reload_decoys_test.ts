/**
 * `decoys:` is read once, at start (its sockets are bound before privileges drop): a reload
 * that changes it reports `decoys` in `restart_required`, and the running decoys keep the
 * settings they started with until the restart.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { makeFixture, startDaemon } from "../_helpers/daemon.ts";
import { AdminClient } from "../../src/client/admin/client.ts";
import { loadConfigText } from "../../src/config/load.ts";
import { diffConfigs } from "../../src/daemon/reload.ts";
import { freePortRun } from "../stealth/_ports.ts";

const BASE = `servers:
  - name: a
    listen: ["127.0.0.1:7000"]
    key_file: k.pem
`;

Deno.test("reload: a change of decoys is restart-only, and the only change reported", async () => {
  const load = async (text: string) => {
    const r = await loadConfigText(text, "/tmp/x.yaml");
    if (!r.ok) throw new Error(JSON.stringify(r.findings));
    return r.config;
  };
  const before = await load(BASE);
  const after = await load(
    BASE + `decoys:\n  ports: [{ listen: "127.0.0.2:2222", type: banner }]\n`,
  );
  const c = diffConfigs(before, after);
  assert.deepEqual(c.restart_required, ["decoys"]);
  assert.deepEqual(c.changed, { servers: [], users: [], actions: [] });
  assert.deepEqual(diffConfigs(after, after).restart_required, []);
});

/** What a TCP connection to `port` on 127.0.0.2 reads before the decoy closes it. */
async function banner(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.2", port });
  try {
    let text = "";
    const buf = new Uint8Array(512);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the peer
    }
  }
}

Deno.test({
  name:
    "reload (real daemon): changed decoys are reported as needing a restart, the old ones serve",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = freePortRun(1, ["127.0.0.2"]);
    const OLD = "220 old.example ESMTP\r\n";
    const fx = await makeFixture({
      top: {
        decoys: {
          per_source_rate: 100,
          ports: [{ listen: `127.0.0.2:${port}`, type: "banner", banner: OLD }],
        },
      },
    });
    const daemon = await startDaemon(fx.config);
    const admin = await AdminClient.connect(`${fx.dir}/run/admin.sock`);
    try {
      assert.equal(await banner(port), OLD);
      const config = parse(await Deno.readTextFile(fx.config)) as Record<string, unknown>;
      config.decoys = {
        per_source_rate: 100,
        ports: [{ listen: `127.0.0.2:${port}`, type: "banner", banner: "220 new.example\r\n" }],
      };
      await Deno.writeTextFile(fx.config, stringify(config));
      const r = await admin.request("reload", {}, 20_000);
      assert.ok(r.ok, JSON.stringify(r));
      const changes = (r.result as { changes: { restart_required: string[] } }).changes;
      assert.deepEqual(changes.restart_required, ["decoys"]);
      assert.equal(await banner(port), OLD, "until a restart the decoy keeps its banner");
    } finally {
      admin.close();
      await daemon.stop();
      await fx.cleanup();
    }
  },
});

/**
 * What a running daemon says about its config: lint warnings at start and after every
 * reload (log and `status`), and settings that wait for a restart stay listed until then.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { makeFixture, startDaemon } from "../_helpers/daemon.ts";
import { AdminClient } from "../../src/client/admin/client.ts";

interface Health {
  warnings: string[];
  restart_required: string[];
}

Deno.test("lint warnings are logged and shown by status; a pending restart stays listed", async () => {
  const fx = await makeFixture({
    // bob has no actions: a lint warning, not an error.
    users: [{ id: 2, name: "bob", hmac_key_file: "alice.hmac", actions: [] }],
  });
  const daemon = await startDaemon(fx.config);
  const admin = await AdminClient.connect(`${fx.dir}/run/admin.sock`);
  const run = async (cmd: string) => {
    const r = await admin.request(cmd, {}, 15_000);
    if (!r.ok) throw new Error(r.error);
    return r.result as Health;
  };
  const edit = async (fn: (c: Record<string, Record<string, unknown>>) => void) => {
    const c = parse(await Deno.readTextFile(fx.config));
    fn(c);
    await Deno.writeTextFile(fx.config, stringify(c));
  };
  try {
    assert.match(daemon.logs(), /config warning \(start\)[^\n]*bob[^\n]*no actions/);
    let st = await run("status");
    assert.equal(st.warnings.length, 1);
    assert.match(st.warnings[0], /siglatchd\.yaml:\d+:\d+: users\[1\][^\n]*no actions/);
    assert.deepEqual(st.restart_required, []);

    // A setting that needs a restart, then a reload that changes something else.
    await edit((c) => c.logging.drop_log_rate = 7);
    await run("reload");
    assert.match(daemon.logs(), /config warning \(reload\)[^\n]*bob/);
    await edit((c) => {
      (c.users as unknown as { actions: string[] }[])[1].actions = ["ping"];
    });
    await run("reload");
    st = await run("status");
    assert.deepEqual(st.warnings, [], "the warning is gone with its cause");
    assert.deepEqual(st.restart_required, ["logging"], "still pending after the next reload");

    // Undoing the change clears it: nothing waits for a restart any more.
    await edit((c) => c.logging.drop_log_rate = 1000);
    await run("reload");
    assert.deepEqual((await run("status")).restart_required, []);
  } finally {
    admin.close();
    await daemon.stop();
    await fx.cleanup();
  }
});

/** `siglatch admin nodes`: the cluster's heartbeat records, from the CLI, this node marked. */
import assert from "node:assert/strict";
import { makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";

Deno.test("admin nodes lists this daemon (marked *) with its listen address", async () => {
  const fx = await makeFixture();
  const d = await startDaemon(fx.config);
  try {
    const text = await runCli(["admin", "--config", fx.config, "nodes"]);
    assert.equal(text.code, 0, text.stderr);
    const row = text.stdout.split("\n").find((l) => l.startsWith("*"));
    assert.ok(row, text.stdout);
    // (the pid is the process that serves, under privilege separation the network part's)
    assert.match(row, new RegExp(`127\\.0\\.0\\.1:${fx.port}`));
    const json = await runCli(["admin", "--config", fx.config, "--json", "nodes"]);
    const nodes = JSON.parse(json.stdout) as { self: boolean; pid: number }[];
    assert.equal(nodes.filter((n) => n.self).length, 1);
    assert.match(row, new RegExp(`\\b${nodes.find((n) => n.self)!.pid}\\b`));
    const bad = await runCli(["admin", "--config", fx.config, "nodes", "extra"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /nodes: expected no arguments/);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

import assert from "node:assert/strict";
import { AdminControl } from "../../src/admin/control.ts";
import { TestTarget } from "./_target.ts";

Deno.test("overrides: runtime disable is reset by reload, persisted disable survives", async () => {
  const t = new TestTarget();
  const c = new AdminControl(t);
  await c.run("disable", { kind: "action", name: "deploy" });
  await c.run("disable", { kind: "user", name: "bob", persist: true });
  const actions = await c.run("list", { what: "actions" }) as { name: string; state: string }[];
  assert.equal(actions.find((a) => a.name === "deploy")!.state, "disabled (runtime)");
  assert.equal(actions.find((a) => a.name === "debug")!.state, "disabled (config)");
  const users = await c.run("list", { what: "users" }) as { name: string; state: string }[];
  assert.equal(users.find((u) => u.name === "bob")!.state, "disabled (runtime, persisted)");
  const r = await c.run("reload", {}) as { reapplied: string[] };
  assert.deepEqual(r.reapplied, ["user bob"]);
  assert.deepEqual(t.overrides.names("actions"), []);
  assert.deepEqual(t.overrides.names("users"), ["bob"]);
  await c.run("disable", { kind: "action", name: "deploy" });
  await c.run("reload", { keep_overrides: true });
  assert.deepEqual(t.overrides.names("actions"), ["deploy"]);
  await c.run("enable", { kind: "user", name: "bob" });
  await c.run("reload", {});
  assert.deepEqual(t.overrides.names("users"), [], "enable forgets the persisted disable");
});

Deno.test("overrides: clear errors for unknown names and config-disabled items", async () => {
  const c = new AdminControl(new TestTarget());
  await assert.rejects(
    c.run("disable", { kind: "action", name: "nope" }),
    /no action named "nope" \(actions: ping, deploy, debug\)/,
  );
  await assert.rejects(
    c.run("enable", { kind: "action", name: "debug" }),
    /disabled in the config \(enabled: false\): edit the config and reload/,
  );
  await assert.rejects(c.run("disable", { kind: "cat", name: "x" }), /must be one of server/);
  const s = await c.run("enable", { kind: "server", name: "main" }) as { message: string };
  assert.equal(s.message, "server main was not disabled");
});

Deno.test("reload failure keeps the config and reports every error", async () => {
  const t = new TestTarget();
  t.reloadErrors = ["/etc/x.yaml:3:5: users.0.id: expected a number"];
  const c = new AdminControl(t);
  await assert.rejects(c.run("reload", {}), /reload refused[^]*\/etc\/x\.yaml:3:5: users\.0\.id/);
  assert.equal(t.configVersion, 1);
});

Deno.test("broadcast: level, ttl, expiry, clear, bounds", async () => {
  let now = 1_000_000;
  const t = new TestTarget();
  t.clock = () => now;
  const c = new AdminControl(t, { clock: () => now });
  await c.run("broadcast", { text: "maintenance", level: "warning", ttl: "1s" });
  await c.run("broadcast", { text: "hello" });
  assert.deepEqual(t.notices.broadcasts(), [
    { level: "warning", text: "maintenance", expires: 1_001_000 },
    { level: "notice", text: "hello", expires: undefined },
  ]);
  now += 2000;
  await c.run("broadcast", { text: "third" });
  assert.equal(t.notices.broadcasts().length, 2, "expired ones are pruned");
  await assert.rejects(c.run("broadcast", { text: "x", level: "loud" }), /--level must be one of/);
  await assert.rejects(c.run("broadcast", { text: "x", ttl: "soon" }), /expected a duration/);
  await assert.rejects(c.run("broadcast", { text: "x".repeat(501) }), /longer than 500/);
  const r = await c.run("broadcast", { clear: true }) as { cleared: number };
  assert.equal(r.cleared, 2);
});

Deno.test("bans and grants: not available without extensions, delegated with them", async () => {
  const c = new AdminControl(new TestTarget());
  await assert.rejects(c.run("ban", { addr: "192.0.2.1" }), /ban: not available in this build/);
  await assert.rejects(c.run("list", { what: "grants" }), /not available in this build/);
  const calls: unknown[] = [];
  const c2 = new AdminControl(new TestTarget(), {
    extensions: {
      ban: (addr, opts) => (calls.push([addr, opts]), Promise.resolve()),
      unban: (addr) => Promise.resolve(addr === "192.0.2.1"),
      listBans: () => Promise.resolve([{ source: "192.0.2.1", until: new Date(0) }]),
    },
  });
  await c2.run("ban", { addr: "192.0.2.1", for: "10m", reason: "scan" });
  assert.deepEqual(calls, [["192.0.2.1", { forMs: 600_000, permanent: false, reason: "scan" }]]);
  await assert.rejects(c2.run("ban", { addr: "not-an-ip" }), /not an IP address or CIDR/);
  assert.deepEqual(await c2.run("list", { what: "bans" }), [
    { source: "192.0.2.1", until: "1970-01-01T00:00:00.000Z" },
  ]);
  assert.equal(
    (await c2.run("unban", { addr: "192.0.2.1" }) as { removed: boolean }).removed,
    true,
  );
  assert.equal(
    (await c2.run("unban", { addr: "192.0.2.2" }) as { removed: boolean }).removed,
    false,
  );
});

Deno.test("status reports uptime, version, counters, queue, overrides", async () => {
  const c = new AdminControl(new TestTarget());
  await c.run("disable", { kind: "server", name: "main" });
  const s = await c.run("status", {}) as Record<string, unknown>;
  assert.ok((s.uptime_ms as number) >= 5000);
  assert.equal(s.config_version, 1);
  assert.deepEqual(s.counters, { received: 3 });
  assert.deepEqual((s.overrides as Record<string, string[]>).servers, ["main"]);
  assert.equal(s.dry_run, false);
});

import assert from "node:assert/strict";
import { ConfigSchema } from "../../src/config/schema.ts";
import { decidePolicy, type PolicyInput } from "../../src/daemon/policy.ts";
import type { Runtime, ServerRuntime, UserRuntime } from "../../src/daemon/runtime.ts";
import { parseIp } from "../../src/util/ip.ts";
import { diffConfigs, noChanges } from "../../src/daemon/reload.ts";

const config = ConfigSchema.parse({
  servers: [{ name: "main", listen: ["127.0.0.1:5000"], key_file: "/k" }],
  users: [
    { id: 1, name: "alice", hmac_key_file: "/a", actions: ["ping", "echo"] },
    {
      id: 2,
      name: "bob",
      hmac_key_file: "/b",
      actions: ["ping"],
      allow_cidrs: ["10.0.0.0/8"],
      not_before: "2026-01-01T00:00:00Z",
      not_after: "2026-06-01T00:00:00Z",
      servers: ["other"],
    },
  ],
  actions: [
    { id: 1, name: "ping", type: "builtin", builtin: "ping" },
    {
      id: 2,
      name: "echo",
      type: "exec",
      command: ["/bin/cat"],
      allow_cidrs: ["127.0.0.0/8"],
      require_ascii: true,
      max_payload: 8,
    },
    { id: 3, name: "off", type: "builtin", builtin: "version", enabled: false },
  ],
});

function runtime(): Runtime {
  const actions = new Map(config.actions.map((a) => [a.id, { config: a }]));
  const users = new Map<number, UserRuntime>(config.users.map((u) => [u.id, {
    config: u,
    verifier: {},
    actionIds: new Set(u.actions.map((r) => config.actions.find((a) => a.name === r)!.id)),
  }]));
  return {
    config,
    servers: new Map(),
    users,
    actions,
    actionIdsByName: new Map(config.actions.map((a) => [a.name, a.id])),
  };
}

const rt = runtime();
const server = { config: config.servers[0] } as ServerRuntime;
const NOW = Date.parse("2026-03-01T00:00:00Z");

function decide(over: Partial<PolicyInput> & { userId?: number }) {
  return decidePolicy({
    runtime: rt,
    server,
    user: rt.users.get(over.userId ?? 1)!,
    actionId: 1,
    ip: parseIp("127.0.0.1")!,
    payload: new Uint8Array(),
    now: NOW,
    ...over,
  });
}

Deno.test("policy: allowed request passes and names the action", () => {
  const d = decide({});
  assert.equal(d.ok, true);
  assert.equal(d.ok && d.action.config.name, "ping");
});

Deno.test("policy: every refusal reason, first failing rule wins", () => {
  const enc = new TextEncoder();
  const cases: [Partial<PolicyInput> & { userId?: number }, string][] = [
    [{ actionId: 99 }, "unknown_action"],
    [{ actionId: 3 }, "action_not_allowed"],
    [{ actionId: 2, ip: parseIp("192.0.2.1")! }, "action_cidr"],
    [{ actionId: 2, payload: enc.encode("123456789") }, "payload_too_large"],
    [{ actionId: 2, payload: new Uint8Array([0xff]) }, "payload_not_ascii"],
    [{ userId: 2, now: Date.parse("2025-12-31T00:00:00Z") }, "key_not_yet_valid"],
    [{ userId: 2, now: Date.parse("2026-06-01T00:00:00Z") }, "key_expired"],
    [{ userId: 2 }, "server_not_allowed"],
    [
      { disabled: { has: (s: string, n: string) => s === "users" && n === "alice" } },
      "user_disabled",
    ],
    [
      { disabled: { has: (s: string, n: string) => s === "actions" && n === "ping" } },
      "action_disabled",
    ],
  ];
  for (const [input, reason] of cases) {
    const d = decide(input);
    assert.equal(d.ok, false, reason);
    assert.equal(!d.ok && d.reason, reason);
  }
});

Deno.test("policy: a user CIDR refuses other sources", () => {
  const bob = rt.users.get(2)!;
  const only = { ...bob, config: { ...bob.config, servers: undefined } };
  const d = decidePolicy({
    runtime: rt,
    server,
    user: only,
    actionId: 1,
    ip: parseIp("127.0.0.1")!,
    payload: new Uint8Array(),
    now: NOW,
  });
  assert.equal(!d.ok && d.reason, "user_cidr");
  const ok = decidePolicy({
    runtime: rt,
    server,
    user: only,
    actionId: 1,
    ip: parseIp("10.1.2.3")!,
    payload: new Uint8Array(),
    now: NOW,
  });
  assert.equal(ok.ok, true);
});

Deno.test("reload diff names added, removed and changed entries", () => {
  const next = ConfigSchema.parse({
    ...structuredClone({
      servers: [{ name: "main", listen: ["127.0.0.1:5001"], key_file: "/k" }],
      users: [{ id: 1, name: "alice", hmac_key_file: "/a", actions: ["ping"] }, {
        id: 3,
        name: "carol",
        hmac_key_file: "/c",
        actions: ["ping"],
      }],
      actions: [{ id: 1, name: "ping", type: "builtin", builtin: "ping" }],
    }),
  });
  const c = diffConfigs(config, next);
  assert.deepEqual(c.added.users, ["carol"]);
  assert.deepEqual(c.removed.users, ["bob"]);
  assert.deepEqual(c.changed.users, ["alice"]);
  assert.deepEqual(c.changed.servers, ["main"]);
  assert.deepEqual(c.removed.actions.sort(), ["echo", "off"]);
  assert.equal(noChanges(c), false);
  assert.equal(noChanges(diffConfigs(config, config)), true);
  assert.deepEqual(c.restart_required, []);
});

Deno.test("reload diff names the settings that need a restart", () => {
  const base = {
    servers: [{ name: "main", listen: ["127.0.0.1:5001"], key_file: "/k" }],
    users: [{ id: 1, name: "alice", hmac_key_file: "/a", actions: ["ping"] }],
    actions: [{ id: 1, name: "ping", type: "builtin", builtin: "ping" }],
  };
  const before = ConfigSchema.parse(structuredClone(base));
  const after = ConfigSchema.parse({
    ...structuredClone(base),
    servers: [{ ...base.servers[0], limits: { clock_skew: 60 } }],
    limits: { reply_rate: 5, replay_cache_entries: 5000 },
    logging: { level: "debug" },
    firewall: { nft_priority: -50 },
  });
  const c = diffConfigs(before, after);
  assert.deepEqual(c.restart_required, [
    "logging",
    "firewall",
    "limits.replay_cache_entries",
    "servers.main.limits.clock_skew",
  ]);
  assert.deepEqual(c.changed.servers, ["main"]);
  const replyOnly = ConfigSchema.parse({ ...structuredClone(base), limits: { reply_rate: 5 } });
  assert.deepEqual(diffConfigs(before, replyOnly).restart_required, [], "reply_rate applies live");
  assert.equal(noChanges(c), false);
});

import assert from "node:assert/strict";
import { stringify } from "yaml";
import { makeFixture, runCli } from "../_helpers/daemon.ts";
import { expectationMatches } from "../../src/cli/simulate.ts";

const CASES = [
  { user: "alice", action: "ping", source: "10.0.0.1", expect: "allow" },
  { user: 1, action: 2, source: "192.0.2.7", expect: "allow" },
  { user: "alice", action: "deploy", source: "10.0.0.1", expect: "refuse: action_not_allowed" },
  { user: "bob", action: "deploy", source: "10.1.2.3", expect: "allow" },
  { user: "bob", action: "deploy", source: "192.0.2.1", expect: "user_cidr" },
  {
    user: "bob",
    action: "deploy",
    source: "10.0.0.9",
    time: "2031-01-01T00:00:00Z",
    expect: "key_expired",
  },
  {
    user: "bob",
    action: "deploy",
    source: "10.0.0.9",
    time: "2019-01-01T00:00:00Z",
    expect: "refuse",
  },
  { user: "bob", action: "admin_only", source: "10.9.9.9", expect: "refuse: action_cidr" },
  { user: "bob", action: "admin_only", source: "10.0.0.5", expect: "allow" },
  {
    user: "bob",
    action: "deploy",
    source: "10.0.0.9",
    payload: "x".repeat(20),
    expect: "payload_too_large",
  },
  { user: "carol", action: "ping", source: "10.0.0.1", expect: "refuse: unknown_user" },
  { user: "dave", action: "ping", source: "10.0.0.1", expect: "user_disabled" },
  { user: "alice", action: "nope", source: "10.0.0.1", expect: "unknown_action" },
  { user: "alice", action: "ping", source: "::1", expect: "server_cidr" },
];

async function fixture() {
  return await makeFixture({
    server: { allow_cidrs: ["10.0.0.0/8", "192.0.2.0/24"] },
    actions: [
      { id: 10, name: "deploy", type: "exec", command: ["/bin/true"], max_payload: 8 },
      {
        id: 11,
        name: "admin_only",
        type: "exec",
        command: ["/bin/true"],
        allow_cidrs: ["10.0.0.0/24"],
      },
    ],
    users: [
      {
        id: 2,
        name: "bob",
        hmac_key_file: "alice.hmac",
        actions: ["deploy", "admin_only"],
        allow_cidrs: ["10.0.0.0/8"],
        not_before: "2020-01-01T00:00:00Z",
        not_after: "2030-01-01T00:00:00Z",
      },
      { id: 4, name: "dave", hmac_key_file: "alice.hmac", actions: ["ping"], enabled: false },
    ],
  });
}

Deno.test("simulate prints the expected decision for every case", async () => {
  const fx = await fixture();
  try {
    await Deno.writeTextFile(`${fx.dir}/cases.yaml`, stringify(CASES));
    const r = await runCli(["simulate", fx.config, `${fx.dir}/cases.yaml`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^1\s+alice\s+ping\s+10\.0\.0\.1\s+allow\s+ok$/m);
    assert.match(r.stdout, /^5\s+bob\s+deploy\s+192\.0\.2\.1\s+refuse: user_cidr\s+ok$/m);
    assert.match(r.stdout, /^14 case\(s\): 4 allowed, 10 refused$/m);

    const j = await runCli(["simulate", fx.config, `${fx.dir}/cases.yaml`, "--json"]);
    assert.equal(j.code, 0);
    const out = JSON.parse(j.stdout) as {
      results: { decision: string; reason?: string; matched: boolean }[];
      failed: number;
    };
    assert.equal(out.failed, 0);
    assert.deepEqual(
      out.results.map((x) => x.decision === "allow" ? "allow" : x.reason),
      [
        "allow",
        "allow",
        "action_not_allowed",
        "allow",
        "user_cidr",
        "key_expired",
        "key_not_yet_valid",
        "action_cidr",
        "allow",
        "payload_too_large",
        "unknown_user",
        "user_disabled",
        "unknown_action",
        "server_cidr",
      ],
    );
  } finally {
    await fx.cleanup();
  }
});

Deno.test("simulate exits 1 when an expectation fails, 2 on a bad cases file", async () => {
  const fx = await fixture();
  try {
    await Deno.writeTextFile(
      `${fx.dir}/gate.yaml`,
      stringify({
        cases: [{ user: "alice", action: "deploy", source: "10.0.0.1", expect: "allow" }],
      }),
    );
    const r = await runCli(["simulate", fx.config, `${fx.dir}/gate.yaml`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /refuse: action_not_allowed\s+MISMATCH: expected allow/);
    assert.match(r.stdout, /1 expectation\(s\) FAILED/);

    await Deno.writeTextFile(
      `${fx.dir}/bad.yaml`,
      "- user: alice\n  action: ping\n  source: not-an-ip\n- user: bob\n",
    );
    const b = await runCli(["simulate", fx.config, `${fx.dir}/bad.yaml`]);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /bad\.yaml:3:11: cases\[0\]\.source: expected an IP address/);
    assert.match(b.stderr, /bad\.yaml:4:3: cases\[1\]\.action:/);
  } finally {
    await fx.cleanup();
  }
});

Deno.test("expectationMatches forms", () => {
  assert.equal(expectationMatches("allow", "allow"), true);
  assert.equal(expectationMatches("refuse", "refuse", "user_cidr"), true);
  assert.equal(expectationMatches("refuse: user_cidr", "refuse", "user_cidr"), true);
  assert.equal(expectationMatches("refuse:user_cidr", "refuse", "key_expired"), false);
  assert.equal(expectationMatches("user_cidr", "refuse", "user_cidr"), true);
  assert.equal(expectationMatches("user_cidr", "allow"), false);
});

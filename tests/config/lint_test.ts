/** Lint: warnings and errors the schema cannot see, and the file-system checks. */
import assert from "node:assert/strict";
import { loadConfig, loadConfigText } from "../../src/config/load.ts";
import { lintConfig, lintWarnings } from "../../src/config/lint.ts";
import { withTempDir, writeKey } from "./_fixtures.ts";

const BASE = `servers:
  - name: s
    listen: ["0.0.0.0:62201"]
    key_file: server.key
users:
  - id: 1
    name: alice
    hmac_key_file: alice.key
    actions: [ping]
actions:
  - { id: 1, name: ping, type: builtin, builtin: ping }
`;

function codes(findings: { severity: string; code: string; path: string }[]) {
  return findings.map((f) => `${f.severity} ${f.code} ${f.path}`);
}

Deno.test("lint: a clean config has no findings", async () => {
  const res = await loadConfigText(BASE, "c.yaml");
  assert.ok(res.ok);
  assert.deepEqual(res.findings, []);
});

Deno.test("lint: warnings do not fail the load", async () => {
  const yaml = BASE.replace("    listen:", "    mode: insecure\n    listen:")
    .replace("actions: [ping]", "actions: [ping, off]") +
    `  - { id: 2, name: unused, type: builtin, builtin: version }
  - { id: 3, name: off, type: builtin, builtin: version, enabled: false }
  - { id: 5, name: drop, type: exec, command: [/bin/true] }
deaddrops:
  - { name: d, prefix: "D:", handler: drop }
  - { name: f, prefix: "F:", handler: 5, servers: [s] }
`;
  const res = await loadConfigText(yaml, "c.yaml");
  assert.ok(res.ok, JSON.stringify(res.findings));
  assert.deepEqual(codes(res.findings), [
    "warning lint.insecure servers[0].mode",
    "warning lint.disabled_ref users[0].actions[1]",
    "warning lint.unused_action actions[1].name",
    "warning lint.deaddrops_unreachable deaddrops",
  ]);
});

Deno.test("lint: user without actions, wildcard overlap, expired user", async () => {
  const cfg = `servers:
  - { name: s, listen: ["0.0.0.0:62201"], key_file: k }
  - { name: t, listen: ["127.0.0.1:62201", "[::1]:62201"], key_file: k }
users:
  - { id: 1, name: alice, hmac_key_file: a, actions: [ping] }
  - { id: 2, name: bob, hmac_key_file: b, not_after: 2020-01-01T00:00:00Z, actions: [1] }
  - { id: 3, name: carol, hmac_key_file: c }
actions:
  - { id: 1, name: ping, type: builtin, builtin: ping }
`;
  const res = await loadConfigText(cfg, "c.yaml");
  assert.ok(res.ok, JSON.stringify(res.findings));
  assert.deepEqual(codes(res.findings), [
    "warning lint.listen_overlap servers[1].listen[0]",
    "warning lint.expired users[1].not_after",
    "warning lint.user_no_actions users[2]",
  ]);
  assert.match(
    res.findings[0].message,
    /overlaps the wildcard servers\[0\]\.listen\[0\] at c\.yaml:2:25: binding both may fail/,
  );
});

Deno.test("lint: pure data without positions (lintConfig directly)", async () => {
  const res = await loadConfigText(BASE, "c.yaml", { lint: false });
  assert.ok(res.ok);
  res.config.users.push({ ...res.config.users[0], name: "alice2", actions: ["nope"] });
  const findings = lintConfig(res.config, ["x.yaml"]);
  assert.deepEqual(findings.map((f) => [f.file, f.line, f.path, f.message]), [
    ["x.yaml", 1, "users[1].id", "duplicate user id 1: already used by users[0].id at x.yaml:1:1"],
    ["x.yaml", 1, "users[1].actions[0]", 'unknown action "nope"'],
  ]);
});

Deno.test("lint files: key modes and missing keys", async () => {
  await withTempDir(async (dir) => {
    await writeKey(`${dir}/server.key`, 0o600);
    await writeKey(`${dir}/alice.key`, 0o644);
    await Deno.writeTextFile(`${dir}/c.yaml`, BASE);
    let res = await loadConfig(`${dir}/c.yaml`, { checkFiles: true });
    assert.equal(res.ok, false);
    const mode = res.findings.find((f) => f.code === "lint.key_mode")!;
    assert.equal(mode.path, "users[0].hmac_key_file");
    assert.deepEqual([mode.line, mode.col], [8, 20]);
    assert.match(mode.message, /accessible by group or others \(mode 0644\): run chmod 600 /);

    await Deno.chmod(`${dir}/alice.key`, 0o600);
    await Deno.remove(`${dir}/server.key`);
    res = await loadConfig(`${dir}/c.yaml`, { checkFiles: true });
    assert.equal(res.ok, false);
    assert.deepEqual(codes(res.findings), ["error lint.key_missing servers[0].key_file"]);
    assert.match(res.findings[0].message, /server\.key: no such file or directory/);

    await writeKey(`${dir}/server.key`, 0o400);
    res = await loadConfig(`${dir}/c.yaml`, { checkFiles: true });
    assert.ok(res.ok, JSON.stringify(res.findings));
  });
});

Deno.test("lint files: public keys may be 0644", async () => {
  await withTempDir(async (dir) => {
    await writeKey(`${dir}/server.key`);
    await writeKey(`${dir}/bob.pub`, 0o644);
    await Deno.writeTextFile(
      `${dir}/c.yaml`,
      BASE.replace("hmac_key_file: alice.key", "ed25519_public_key_file: bob.pub"),
    );
    const res = await loadConfig(`${dir}/c.yaml`, { checkFiles: true });
    assert.ok(res.ok, JSON.stringify(res.findings));
  });
});

Deno.test("lint files: executables, working_dir and run_as", async () => {
  await withTempDir(async (dir) => {
    await writeKey(`${dir}/server.key`);
    await writeKey(`${dir}/alice.key`);
    await Deno.writeTextFile(`${dir}/script.sh`, "#!/bin/sh\n");
    await Deno.writeTextFile(
      `${dir}/passwd`,
      "root:x:0:0::/root:/bin/sh\nsvc:x:900:900::/:/bin/false\n",
    );
    await Deno.writeTextFile(`${dir}/group`, "root:x:0:\nsvc:x:900:\n");
    const yaml = BASE.replace("actions: [ping]", "actions: [ping, a, b, c, d]") +
      `  - { id: 2, name: a, type: exec, command: [./script.sh], run_as: svc }
  - { id: 3, name: b, type: exec, command: [./missing.sh], run_as: "svc:nogrp" }
  - { id: 4, name: c, type: exec, command: [no-such-program-xyz], run_as: { user: ghost } }
  - { id: 5, name: d, type: exec, command: [/bin/true], working_dir: ./nodir, run_as: "900:900" }
`;
    await Deno.writeTextFile(`${dir}/c.yaml`, yaml);
    const loaded = await loadConfig(`${dir}/c.yaml`, { lint: false });
    assert.ok(loaded.ok);
    assert.equal(loaded.config.actions[1].command![0], `${dir}/script.sh`, "made absolute");
    const findings = lintConfig(loaded.config, loaded.files, {
      sources: loaded.sources,
      checkFiles: true,
      passwdFile: `${dir}/passwd`,
      groupFile: `${dir}/group`,
    });
    assert.deepEqual(codes(findings), [
      "error lint.exec_mode actions[1].command[0]",
      "error lint.exec_missing actions[2].command[0]",
      "error lint.run_as_unknown actions[2].run_as",
      "error lint.exec_missing actions[3].command[0]",
      "error lint.run_as_unknown actions[3].run_as",
      "error lint.dir_missing actions[4].working_dir",
    ]);
    assert.match(findings[0].message, /is not executable: run chmod \+x/);
    assert.match(findings[2].message, /run_as group "nogrp" does not exist/);
    assert.match(findings[3].message, /not found in PATH/);
    assert.match(findings[4].message, /run_as user "ghost" does not exist/);
  });
});

Deno.test("lint: a CIDR with host bits set warns and names the network it means", async () => {
  const yaml = BASE.replace(
    "    key_file: server.key",
    '    key_file: server.key\n    allow_cidrs: ["10.1.2.3/8", "10.0.0.0/8"]',
  ) +
    `rate_limit:\n  deny: ["2001:db8::1/32"]\n`;
  const res = await loadConfigText(yaml, "c.yaml");
  assert.ok(res.ok, JSON.stringify(res.findings));
  assert.deepEqual(codes(res.findings), [
    "warning lint.cidr_host_bits servers[0].allow_cidrs[0]",
    "warning lint.cidr_host_bits rate_limit.deny[0]",
  ]);
  assert.match(
    res.findings[0].message,
    /"10\.1\.2\.3\/8" has host bits set: it means 10\.0\.0\.0\/8; write "10\.0\.0\.0\/8"/,
  );
  assert.equal(`${res.findings[0].line}:${res.findings[0].col}`, "5:19");
  assert.match(res.findings[1].message, /means 2001:db8::\/32/);
});

Deno.test("lint: lintWarnings gives a loaded config's warnings with positions (what the daemon logs)", async () => {
  const yaml = BASE.replace("actions: [ping]", "actions: []") +
    `  - { id: 2, name: unused, type: builtin, builtin: version }\n`;
  const res = await loadConfigText(yaml, "c.yaml");
  assert.ok(res.ok);
  const warnings = lintWarnings(res);
  assert.deepEqual(codes(warnings), [
    "warning lint.user_no_actions users[0]",
    "warning lint.unused_action actions[0].name",
    "warning lint.unused_action actions[1].name",
  ]);
  assert.deepEqual(warnings, res.findings, "the same the loader reports");
  assert.ok(warnings.every((w) => w.file === "c.yaml" && w.line > 1));
});

Deno.test("lint: commands run as root only where the config says so, and each place warns", async () => {
  const yaml = BASE.replace("actions: [ping]", "actions: [ping, a, b, c]") +
    `  - { id: 2, name: a, type: exec, command: [/bin/true], run_as: root }
  - { id: 3, name: b, type: exec, command: [/bin/true], run_as: "0:0" }
  - { id: 4, name: c, type: exec, command: [/bin/true], run_as: { user: nobody } }
  - { id: 5, name: h, type: exec, command: [/bin/true] }
deaddrops:
  - { name: d, prefix: "D:", handler: h, run_as: root }
execution:
  default_run_as: root
`;
  const res = await loadConfigText(
    yaml.replace("    key_file: server.key", "    key_file: server.key\n    deaddrops: true"),
    "c.yaml",
  );
  assert.ok(res.ok, JSON.stringify(res.findings));
  assert.deepEqual(codes(res.findings), [
    "warning lint.run_as_root actions[1].run_as",
    "warning lint.run_as_root actions[2].run_as",
    "warning lint.run_as_root deaddrops[0].run_as",
    "warning lint.run_as_root execution.default_run_as",
  ]);
  const [a, , , dflt] = res.findings;
  assert.equal(`${dflt.file}:${dflt.line}:${dflt.col}`, "c.yaml:20:19");
  assert.equal(`${a.file}:${a.line}:${a.col}`, "c.yaml:13:65");
  assert.match(a.message, /action "a" runs as root/);
  assert.match(dflt.message, /without its own run_as runs as root/);
});

Deno.test("lint files: state.redis_password_file is a secret (0600), state.redis_ca_file must exist", async () => {
  await withTempDir(async (dir) => {
    await writeKey(`${dir}/server.key`, 0o600);
    await writeKey(`${dir}/alice.key`, 0o600);
    await Deno.writeTextFile(`${dir}/redis.pass`, "pw\n", { mode: 0o644 });
    await Deno.chmod(`${dir}/redis.pass`, 0o644);
    await Deno.writeTextFile(
      `${dir}/c.yaml`,
      `${BASE}state:\n  redis: rediss://siglatch@127.0.0.1:6380/0\n` +
        `  redis_password_file: redis.pass\n  redis_ca_file: ca.pem\n`,
    );
    let res = await loadConfig(`${dir}/c.yaml`, { checkFiles: true });
    assert.equal(res.ok, false);
    assert.deepEqual(codes(res.findings), [
      "error lint.key_mode state.redis_password_file",
      "error lint.key_missing state.redis_ca_file",
    ]);
    assert.ok(res.findings.every((f) => !f.message.includes("pw\n")), "the secret is not shown");
    await Deno.chmod(`${dir}/redis.pass`, 0o600);
    await Deno.writeTextFile(`${dir}/ca.pem`, "-----BEGIN CERTIFICATE-----\n");
    res = await loadConfig(`${dir}/c.yaml`, { checkFiles: true });
    assert.ok(res.ok, JSON.stringify(res.findings));
  });
});

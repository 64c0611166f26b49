/** `siglatch check` as operators run it: a subprocess of main.ts, exit status and output. */
import assert from "node:assert/strict";
import { runSiglatch, withTempDir, writeKey } from "../config/_fixtures.ts";
import { copyExample } from "../config/example_test.ts";

const CONFIG = `servers:
  - name: s
    mode: insecure
    listen: ["127.0.0.1:62201"]
    key_file: server.key
users:
  - { id: 1, name: alice, hmac_key_file: alice.key, actions: [ping] }
actions:
  - { id: 1, name: ping, type: builtin, builtin: ping }
`;

function noStack(run: { stdout: string; stderr: string }) {
  assert.doesNotMatch(run.stdout + run.stderr, /\bat (file:|async |[\w.]+ \()|internal error/);
}

Deno.test("check: the example config passes (exit 0)", async () => {
  await withTempDir(async (dir) => {
    const run = await runSiglatch(["check", await copyExample(dir)]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout, `${dir}/siglatchd.yaml: OK (0 errors, 0 warnings in 2 files)\n`);
  });
});

Deno.test("check: warnings pass, --strict fails on them, --json reports them", async () => {
  await withTempDir(async (dir) => {
    await writeKey(`${dir}/server.key`);
    await writeKey(`${dir}/alice.key`);
    await Deno.writeTextFile(`${dir}/c.yaml`, CONFIG);
    let run = await runSiglatch(["check", `${dir}/c.yaml`]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      `${dir}/c.yaml:3:11: warning: servers[0].mode: insecure: packets are readable (use for onboarding only)\n` +
        `${dir}/c.yaml: OK (0 errors, 1 warning)\n`,
    );
    run = await runSiglatch(["check", "--strict", `${dir}/c.yaml`]);
    assert.equal(run.code, 1);
    assert.match(
      run.stdout,
      /FAILED \(0 errors, 1 warning\) \(--strict: warnings count as errors\)/,
    );
    noStack(run);
    run = await runSiglatch(["check", "--json", `${dir}/c.yaml`]);
    assert.equal(run.code, 0);
    const report = JSON.parse(run.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.errors, 0);
    assert.equal(report.warnings, 1);
    assert.deepEqual(report.files, [`${dir}/c.yaml`]);
    assert.deepEqual(report.findings[0], {
      severity: "warning",
      file: `${dir}/c.yaml`,
      line: 3,
      col: 11,
      path: "servers[0].mode",
      message: "insecure: packets are readable (use for onboarding only)",
      code: "lint.insecure",
    });
    run = await runSiglatch(["check", "--json", "--strict", `${dir}/c.yaml`]);
    assert.equal(run.code, 1);
    assert.equal(JSON.parse(run.stdout).ok, false);
  });
});

Deno.test("check: errors exit 1, each as file:line:col: path: message", async () => {
  await withTempDir(async (dir) => {
    await writeKey(`${dir}/server.key`);
    await writeKey(`${dir}/alice.key`, 0o644);
    await Deno.writeTextFile(
      `${dir}/c.yaml`,
      CONFIG.replace('"127.0.0.1:62201"', '"127.0.0.1:99999"').replace("[ping]", "[ping, x]"),
    );
    let run = await runSiglatch(["check", `${dir}/c.yaml`]);
    assert.equal(run.code, 1);
    assert.equal(
      run.stdout,
      `${dir}/c.yaml:4:14: servers[0].listen[0]: port 99999 is out of range: expected 1..65535\n` +
        `${dir}/c.yaml: FAILED (1 error, 0 warnings)\n`,
    );
    await Deno.writeTextFile(`${dir}/c.yaml`, CONFIG.replace("[ping]", "[ping, x]"));
    run = await runSiglatch(["check", `${dir}/c.yaml`]);
    assert.equal(run.code, 1);
    const lines = run.stdout.trimEnd().split("\n");
    assert.deepEqual(lines.map((l) => l.replace(`${dir}/`, "")), [
      "c.yaml:3:11: warning: servers[0].mode: insecure: packets are readable (use for onboarding only)",
      `c.yaml:7:42: users[0].hmac_key_file: key file ${dir}/alice.key is accessible by group or ` +
      `others (mode 0644): run chmod 600 ${dir}/alice.key`,
      'c.yaml:7:69: users[0].actions[1]: unknown action "x"',
      "c.yaml: FAILED (2 errors, 1 warning)",
    ]);
    // --no-files skips the machine checks.
    run = await runSiglatch(["check", "--no-files", `${dir}/c.yaml`]);
    assert.equal(run.code, 1);
    assert.doesNotMatch(run.stdout, /chmod/);
  });
});

Deno.test("check: hostile files give one clear error, exit 1, no stack trace", async () => {
  await withTempDir(async (dir) => {
    const garbage = new Uint8Array(2048).map((_, i) => (i * 7919 + 13) & 0xff);
    const cases: [string, Uint8Array | string, RegExp][] = [
      ["garbage.yaml", garbage, /not a YAML text file/],
      ["empty.yaml", "", /empty config/],
      ["bomb.yaml", bomb(), /alias bomb/],
      ["deep.yaml", "a: " + "[".repeat(50_000) + "]".repeat(50_000), /nested too deeply/],
      ["list.yaml", "- a\n- b\n", /top level must be a mapping/],
    ];
    for (const [name, content, re] of cases) {
      const path = `${dir}/${name}`;
      if (typeof content === "string") await Deno.writeTextFile(path, content);
      else await Deno.writeFile(path, content);
      const run = await runSiglatch(["check", path]);
      assert.equal(run.code, 1, name);
      const lines = run.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 2, `${name}: ${run.stdout}`);
      assert.match(lines[0], new RegExp(`^${path}:\\d+:\\d+: `));
      assert.match(lines[0], re);
      assert.equal(run.stderr, "", name);
      noStack(run);
    }
    const big = `${dir}/big.yaml`;
    const f = await Deno.open(big, { write: true, create: true });
    await f.truncate(50 * 1024 * 1024);
    f.close();
    const run = await runSiglatch(["check", big]);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /file is too large/);
    noStack(run);
    const missing = await runSiglatch(["check", `${dir}/nope.yaml`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /nope\.yaml:1:1: cannot read: no such file or directory/);
  });
});

function bomb(): string {
  let text = "a: &a [x, x, x, x, x, x, x, x, x]\n";
  for (let i = 0, prev = "a"; i < 9; prev = `b${i}`, i++) {
    text += `b${i}: &b${i} [${Array(9).fill(`*${prev}`).join(", ")}]\n`;
  }
  return text;
}

Deno.test("check: --help explains and shows examples; bad flag is a usage error", async () => {
  const help = await runSiglatch(["check", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: siglatch check \[options\] \[file\]/);
  assert.match(help.stdout, /--strict/);
  assert.match(help.stdout, /Examples:/);
  const bad = await runSiglatch(["check", "--bogus"]);
  assert.equal(bad.code, 2);
});

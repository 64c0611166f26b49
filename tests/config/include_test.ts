/** include: globs, merging, positions in the included file, conflicts, relative paths. */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { expandGlob, globMatch } from "../../src/config/include.ts";
import { withTempDir } from "./_fixtures.ts";

const MAIN = `include: conf.d/*.yaml
servers:
  - name: s
    listen: ["127.0.0.1:62201"]
    key_file: keys/server.key
users:
  - { id: 1, name: alice, hmac_key_file: alice.key, actions: [ping] }
actions:
  - { id: 1, name: ping, type: builtin, builtin: ping }
state:
  path: state
`;

async function setup(dir: string, files: Record<string, string>) {
  await Deno.mkdir(`${dir}/conf.d`, { recursive: true });
  await Deno.writeTextFile(`${dir}/main.yaml`, MAIN);
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
}

Deno.test("include: lists concatenate in sorted file order; paths relative to each file", async () => {
  await withTempDir(async (dir) => {
    await setup(dir, {
      "conf.d/20-b.yaml":
        "users:\n  - { id: 3, name: carol, hmac_key_file: c.key, actions: [1] }\n",
      "conf.d/10-a.yaml":
        "users:\n  - { id: 2, name: bob, hmac_key_file: ../b.key, actions: [1] }\n",
      "conf.d/empty.yaml": "# nothing here yet\n",
      "conf.d/notes.txt": "not yaml: [",
      "conf.d/.hidden.yaml": "bad: [",
    });
    const res = await loadConfig(`${dir}/main.yaml`);
    assert.ok(res.ok, JSON.stringify(res.findings));
    assert.deepEqual(res.config.users.map((u) => u.name), ["alice", "bob", "carol"]);
    assert.deepEqual(res.files, [
      `${dir}/main.yaml`,
      `${dir}/conf.d/10-a.yaml`,
      `${dir}/conf.d/20-b.yaml`,
      `${dir}/conf.d/empty.yaml`,
    ]);
    assert.equal(res.config.users[0].hmac_key_file, `${dir}/alice.key`);
    assert.equal(res.config.users[1].hmac_key_file, `${dir}/b.key`);
    assert.equal(res.config.users[2].hmac_key_file, `${dir}/conf.d/c.key`);
    assert.equal(res.config.servers[0].key_file, `${dir}/keys/server.key`);
    assert.equal(res.config.state.path, `${dir}/state`);
  });
});

Deno.test("include: an error in an included file points at that file", async () => {
  await withTempDir(async (dir) => {
    await setup(dir, {
      "conf.d/50-x.yaml": "# team x\nusers:\n  - id: 7\n    name: dave\n    hmac_key_file: d\n" +
        "    actions: [ping]\n    alow_cidrs: [10.0.0.0/8]\n  - { id: 1, name: eve, hmac_key_file: e, actions: [ping] }\n",
    });
    let res = await loadConfig(`${dir}/main.yaml`);
    assert.equal(res.ok, false);
    assert.deepEqual(
      res.findings.map((f) => [f.file, f.line, f.col, f.path, f.message]),
      [[
        `${dir}/conf.d/50-x.yaml`,
        7,
        5,
        "users[0].alow_cidrs",
        'unknown key "alow_cidrs": did you mean "allow_cidrs"?',
      ]],
    );
    // Fixed: now the duplicate id (a lint error) is located in the included file too.
    const text = await Deno.readTextFile(`${dir}/conf.d/50-x.yaml`);
    await Deno.writeTextFile(`${dir}/conf.d/50-x.yaml`, text.replace("alow_cidrs", "allow_cidrs"));
    res = await loadConfig(`${dir}/main.yaml`);
    assert.equal(res.ok, false);
    const f = res.findings[0];
    assert.deepEqual([f.file, f.line, f.col, f.path], [
      `${dir}/conf.d/50-x.yaml`,
      8,
      11,
      "users[1].id",
    ]);
    assert.match(
      f.message,
      new RegExp(`already used by users\\[0\\]\\.id at ${dir}/main.yaml:7:11`),
    );
  });
});

Deno.test("include: conflicting scalar sections and nested includes are refused", async () => {
  await withTempDir(async (dir) => {
    await setup(dir, {
      "conf.d/a.yaml": "state:\n  path: /elsewhere\ninclude: more/*.yaml\n",
    });
    const res = await loadConfig(`${dir}/main.yaml`);
    assert.equal(res.ok, false);
    assert.deepEqual(res.findings.map((f) => [f.line, f.col, f.path, f.code]), [
      [1, 1, "state", "include.conflict"],
      [3, 1, "include", "include.nested"],
    ]);
    assert.match(
      res.findings[0].message,
      new RegExp(`state is already set at ${dir}/main.yaml:10:1; only servers, users`),
    );
  });
});

Deno.test("include: a broken included file and a missing literal include", async () => {
  await withTempDir(async (dir) => {
    await setup(dir, { "conf.d/bad.yaml": "users: [\n" });
    await Deno.writeTextFile(
      `${dir}/main.yaml`,
      MAIN.replace("include: conf.d/*.yaml", "include: [conf.d/*.yaml, extra.yaml]"),
    );
    const res = await loadConfig(`${dir}/main.yaml`);
    assert.equal(res.ok, false);
    assert.deepEqual(res.findings.map((f) => [f.file.replace(dir, ""), f.line, f.code]), [
      ["/main.yaml", 1, "include.unreadable"],
      ["/conf.d/bad.yaml", 2, "yaml.syntax"],
    ]);
  });
});

Deno.test("include: glob matching", async () => {
  assert.ok(globMatch("*.yaml", "a.yaml"));
  assert.ok(globMatch("?0-*.yaml", "10-x.yaml"));
  assert.ok(!globMatch("*.yaml", "a.yml"));
  assert.ok(!globMatch("*.yaml", ".a.yaml"));
  assert.ok(globMatch("a+b(*).yaml", "a+b(1).yaml"));
  await withTempDir(async (dir) => {
    assert.deepEqual(await expandGlob("nope/*.yaml", dir), []);
    assert.match(String(await expandGlob("*/x.yaml", dir)), /last path segment/);
  });
});

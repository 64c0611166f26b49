/**
 * Loading plugin folders: a broken plugin is refused with its file and field while the
 * others load; unsafe entries (outside the folder, writable by others) are refused.
 */
import assert from "node:assert/strict";
import { diffPlugins, loadPlugins, resolvePluginAction } from "../../src/plugins/registry.ts";
import { ActionSchema } from "../../src/config/schema.ts";

async function plugin(
  root: string,
  folder: string,
  manifest: unknown,
  files: Record<string, string> = {},
) {
  await Deno.mkdir(`${root}/${folder}`, { recursive: true });
  await Deno.chmod(`${root}/${folder}`, 0o755);
  await Deno.writeTextFile(`${root}/${folder}/plugin.json`, JSON.stringify(manifest));
  await Deno.chmod(`${root}/${folder}/plugin.json`, 0o644);
  for (const [name, body] of Object.entries(files)) {
    await Deno.writeTextFile(`${root}/${folder}/${name}`, body);
    await Deno.chmod(`${root}/${folder}/${name}`, 0o755);
  }
}

Deno.test("registry: each broken plugin is refused with file and field, the good one loads", async () => {
  const root = await Deno.makeTempDir();
  try {
    const ok = { name: "ok", kind: "exec", entry: "run.sh", actions: ["a"] };
    await plugin(root, "ok", ok, { "run.sh": "#!/bin/sh\n" });
    await plugin(root, "badkind", { ...ok, name: "badkind", kind: "script" });
    await plugin(root, "noentry", { ...ok, name: "noentry", entry: "missing.sh" });
    await plugin(root, "dotdot", { ...ok, name: "dotdot", entry: "../ok/run.sh" });
    await plugin(root, "escape", { ...ok, name: "escape", entry: "link.sh" });
    await Deno.symlink(`${root}/ok/run.sh`, `${root}/escape/link.sh`);
    await plugin(root, "writable", { ...ok, name: "writable" }, { "run.sh": "#!/bin/sh\n" });
    await Deno.chmod(`${root}/writable/run.sh`, 0o777);
    await plugin(root, "perms", { ...ok, name: "perms", permissions: { read: ["/"] } }, {
      "run.sh": "#!/bin/sh\n",
    });
    await plugin(root, "dup", ok, { "run.sh": "#!/bin/sh\n" });
    await Deno.mkdir(`${root}/notjson`);
    await Deno.writeTextFile(`${root}/notjson/plugin.json`, "{");

    const set = await loadPlugins(root);
    assert.deepEqual([...set.plugins.keys()], ["ok"]);
    const errs = set.errors.join("\n");
    assert.match(errs, /badkind\/plugin\.json: kind: /);
    assert.match(errs, /noentry\/plugin\.json: entry: missing\.sh: /);
    assert.match(errs, /dotdot\/plugin\.json: entry: a path inside the plugin folder/);
    assert.match(errs, /escape\/plugin\.json: entry: link\.sh leaves the folder/);
    assert.match(errs, /writable\/plugin\.json: entry: run\.sh is writable by group or others/);
    assert.match(errs, /perms\/plugin\.json: permissions: only module plugins/);
    assert.match(errs, /ok\/plugin\.json: name: ok is already the name of .*\/dup/);
    assert.match(errs, /notjson\/plugin\.json: not JSON/);
    assert.equal(set.errors.length, 8);

    // An action that names it, with settings the manifest does not have.
    const action = ActionSchema.parse({
      id: 9,
      name: "x",
      type: "plugin",
      plugin: { name: "ok", action: "b", config: { k: 1 } },
    });
    assert.match(String(resolvePluginAction(set, action)), /plugin\.action: ok provides a, not b/);

    // Reload: the loaded "ok" (folder dup, first in sorted order) changed, one added.
    await Deno.writeTextFile(`${root}/dup/run.sh`, "#!/bin/sh\necho changed\n");
    await Deno.remove(`${root}/badkind`, { recursive: true });
    await plugin(root, "badkind", { ...ok, name: "fixed" }, { "run.sh": "#!/bin/sh\n" });
    const next = await loadPlugins(root);
    assert.deepEqual(diffPlugins(set, next), { added: ["fixed"], changed: ["ok"], removed: [] });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("registry: no plugins.dir, or a missing one, loads nothing and says why", async () => {
  assert.deepEqual((await loadPlugins(undefined)).errors, []);
  const missing = await loadPlugins("/nonexistent/plugins");
  assert.match(missing.errors[0], /^plugins\.dir: \/nonexistent\/plugins: /);
});

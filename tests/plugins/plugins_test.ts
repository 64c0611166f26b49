/**
 * Plugins end to end: a real daemon (privilege separation when root) loads exec, module
 * and native plugins from `plugins.dir`, runs them for real requests, survives a crashing
 * native plugin, refuses a broken one while the others work, and picks up added and
 * removed plugins on reload.
 */
import assert from "node:assert/strict";
import {
  aliceRequest,
  type Fixture,
  makeFixture,
  runCli,
  startDaemon,
} from "../_helpers/daemon.ts";
import { AdminClient } from "../../src/client/admin/client.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";
import { replyOutput } from "../../src/wire/reply_body.ts";
import { ROOT } from "../_helpers/daemon.ts";

const EXAMPLES = `${ROOT}/config/examples/plugins`;

const CRASH_C = `#include <stdint.h>
#include <stddef.h>
int siglatch_action(const uint8_t *req, size_t len, uint8_t *out, size_t *out_len) {
  volatile int *p = (int *)0; (void)req; (void)len; (void)out; (void)out_len;
  return *p;
}
`;

async function cc(src: string, out: string): Promise<void> {
  const r = await new Deno.Command("cc", {
    args: ["-shared", "-fPIC", "-O2", "-Wall", "-o", out, src],
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  await Deno.chmod(out, 0o755);
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true, mode: 0o755 });
  for await (const e of Deno.readDir(from)) {
    if (!e.isFile) continue;
    await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
    const mode = (await Deno.stat(`${from}/${e.name}`)).mode! & 0o755;
    await Deno.chmod(`${to}/${e.name}`, mode);
  }
}

/** A plugins dir with the three examples, a crashing native one and a broken one. */
async function pluginsDir(dir: string): Promise<string> {
  const root = `${dir}/plugins`;
  await Deno.mkdir(root, { mode: 0o755 });
  for (const name of ["hello-exec", "hello-module", "hello-native"]) {
    await copyDir(`${EXAMPLES}/${name}`, `${root}/${name}`);
  }
  await cc(`${root}/hello-native/hello.c`, `${root}/hello-native/hello.so`);
  await Deno.mkdir(`${root}/crash`, { mode: 0o755 });
  await Deno.writeTextFile(`${root}/crash/crash.c`, CRASH_C);
  await cc(`${root}/crash/crash.c`, `${root}/crash/crash.so`);
  await Deno.writeTextFile(
    `${root}/crash/plugin.json`,
    JSON.stringify({ name: "crash", kind: "native", entry: "crash.so", actions: ["boom"] }),
  );
  await Deno.mkdir(`${root}/broken`, { mode: 0o755 });
  await Deno.writeTextFile(
    `${root}/broken/plugin.json`,
    JSON.stringify({ name: "broken", kind: "script", entry: "x.sh", actions: ["x"] }),
  );
  return root;
}

const ACTIONS = [
  {
    id: 20,
    name: "greet",
    type: "plugin",
    plugin: { name: "hello-exec", action: "shout", config: { greeting: "hi" } },
  },
  { id: 21, name: "reverse", type: "plugin", plugin: { name: "hello-module", action: "reverse" } },
  { id: 22, name: "readok", type: "plugin", plugin: { name: "hello-module", action: "read" } },
  {
    id: 23,
    name: "readdenied",
    type: "plugin",
    plugin: { name: "hello-module", action: "read", config: { file: "/etc/hostname" } },
  },
  { id: 24, name: "upper", type: "plugin", plugin: { name: "hello-native" } },
  { id: 25, name: "boom", type: "plugin", plugin: { name: "crash" } },
  { id: 26, name: "late", type: "plugin", plugin: { name: "late" } },
];

async function fixture(): Promise<Fixture> {
  const fx = await makeFixture({
    actions: ACTIONS,
    aliceActions: ACTIONS.map((a) => a.name),
    top: { plugins: { dir: "plugins" }, limits: { reply_rate: 1000 } },
  });
  await pluginsDir(fx.dir);
  return fx;
}

const text = (r: { body?: unknown }) =>
  new TextDecoder().decode(replyOutput(r.body as Parameters<typeof replyOutput>[0])).trim();

Deno.test("plugins: exec, module and native run; a crash and a broken plugin do not stop the rest", async () => {
  const fx = await fixture();
  const d = await startDaemon(fx.config);
  try {
    await d.waitFor(/plugin refused: .*broken\/plugin\.json: kind/);
    const greet = await aliceRequest(fx, 20, "bob", { timeoutMs: 15000 });
    assert.equal(greet.status, ReplyStatus.Ok, JSON.stringify(greet));
    assert.equal(text(greet), '{"GREETING":"HI"} HELLO ALICE: BOB');

    const rev = await aliceRequest(fx, 21, "abc", { timeoutMs: 15000 });
    assert.equal(rev.status, ReplyStatus.Ok, JSON.stringify(rev));
    assert.equal(text(rev), "alice: cba");

    const ok = await aliceRequest(fx, 22, "", { timeoutMs: 15000 });
    assert.equal(ok.status, ReplyStatus.Ok, JSON.stringify(ok));
    assert.equal(text(ok), "this file is readable by the plugin");

    // The manifest declares read of allowed.txt only: /etc/hostname is NotCapable.
    const denied = await aliceRequest(fx, 23, "", { timeoutMs: 15000 });
    assert.equal(denied.status, ReplyStatus.Error, JSON.stringify(denied));
    assert.match(
      JSON.stringify(denied.body),
      /NotCapable: Requires read access to \\"\/etc\/hostname\\"/,
    );

    const up = await aliceRequest(fx, 24, "shout this", { timeoutMs: 15000 });
    assert.equal(up.status, ReplyStatus.Ok, JSON.stringify(up));
    assert.equal(text(up), "alice: SHOUT THIS");

    // A segfault ends the plugin's child only: an error reply, and the daemon serves on.
    const boom = await aliceRequest(fx, 25, "", { timeoutMs: 15000 });
    assert.equal(boom.status, ReplyStatus.Error, JSON.stringify(boom));
    assert.equal((await aliceRequest(fx, 1)).status, ReplyStatus.Ok);
    const again = await aliceRequest(fx, 24, "still", { timeoutMs: 15000 });
    assert.equal(text(again), "alice: STILL");

    // Not loaded: refused with an error, nothing runs.
    const late = await aliceRequest(fx, 26, "", { timeoutMs: 15000 });
    assert.equal(late.status, ReplyStatus.Error, JSON.stringify(late));
    assert.equal(late.body?.reason, "plugin_unavailable");
    await d.waitFor(
      /plugin action late cannot run: .*actions\.late\.plugin\.name: no loaded plugin late/,
    );
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("plugins: reload adds and removes plugins", async () => {
  const fx = await fixture();
  const d = await startDaemon(fx.config);
  const admin = await AdminClient.connect(`${fx.dir}/run/admin.sock`);
  try {
    assert.equal((await aliceRequest(fx, 26, "", { timeoutMs: 15000 })).status, ReplyStatus.Error);
    // Add "late" (an exec plugin), remove hello-native.
    await Deno.mkdir(`${fx.dir}/plugins/late`, { mode: 0o755 });
    await Deno.writeTextFile(`${fx.dir}/plugins/late/run.sh`, "#!/bin/sh\necho late $1\n");
    await Deno.chmod(`${fx.dir}/plugins/late/run.sh`, 0o755);
    await Deno.writeTextFile(
      `${fx.dir}/plugins/late/plugin.json`,
      JSON.stringify({ name: "late", kind: "exec", entry: "run.sh", actions: ["now"] }),
    );
    await Deno.remove(`${fx.dir}/plugins/hello-native`, { recursive: true });
    const r = await admin.request("reload", {}, 15_000);
    assert.ok(r.ok, JSON.stringify(r));
    await d.waitFor(/plugins reloaded: added=late changed=- removed=hello-native/);
    const late = await aliceRequest(fx, 26, "", { timeoutMs: 15000 });
    assert.equal(late.status, ReplyStatus.Ok, JSON.stringify(late));
    assert.equal(text(late), "late now");
    const up = await aliceRequest(fx, 24, "x", { timeoutMs: 15000 });
    assert.equal(up.status, ReplyStatus.Error, "a removed plugin no longer runs");
  } finally {
    admin.close();
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("siglatch plugins list|check name loaded plugins and the broken one", async () => {
  const fx = await fixture();
  try {
    const list = await runCli(["plugins", "list", "-c", fx.config, "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const parsed = JSON.parse(list.stdout);
    assert.deepEqual(
      parsed.plugins.map((p: { name: string }) => p.name).sort(),
      ["crash", "hello-exec", "hello-module", "hello-native"],
    );
    const check = await runCli(["plugins", "check", "-c", fx.config]);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /broken\/plugin\.json: kind: /);
    assert.match(check.stderr, /actions\.late\.plugin\.name: no loaded plugin late/);
  } finally {
    await fx.cleanup();
  }
});

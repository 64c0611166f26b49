import assert from "node:assert/strict";
import { AdminControl } from "../../src/admin/control.ts";
import { ControlServer } from "../../src/admin/server.ts";
import { ROOT, RUN_FLAGS, runCli } from "../_helpers/daemon.ts";
import { TestTarget } from "../admin/_target.ts";
import { spawnPty } from "../admin/_pty.ts";

/** The Deno cache, kept when a test changes HOME. */
const DENO_DIR = Deno.env.get("DENO_DIR") ??
  `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/deno`;

/** Matches the prompt line as redrawn with `text` (the line editor ends it with ESC [ K). */
function shown(text: string): RegExp {
  return new RegExp((text + "\x1b[K").replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
}

async function withSocket(
  fn: (ctx: { socket: string; dir: string; target: TestTarget }) => Promise<void>,
  opts: { idleTimeoutMs?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-admin-cli-" });
  const target = new TestTarget();
  const server = await ControlServer.start(new AdminControl(target), {
    path: `${dir}/a.sock`,
    ...opts,
  });
  try {
    await fn({ socket: server.path, dir, target });
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("admin one-shot: text, --json, exit codes, --config finds the socket", async () => {
  await withSocket(async ({ socket, dir, target }) => {
    const st = await runCli(["admin", "--socket", socket, "status"]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^config version\s+1 /m);
    assert.match(st.stdout, /^actions\s+1 running, 2 queued$/m);

    const dis = await runCli([
      "admin",
      "--socket",
      socket,
      "disable",
      "action",
      "deploy",
      "--persist",
    ]);
    assert.equal(dis.code, 0, dis.stderr);
    assert.match(dis.stdout, /action deploy disabled at runtime \(persisted across reloads\)/);
    assert.ok(target.overrides.has("actions", "deploy"));

    const json = await runCli(["admin", "--socket", socket, "--json", "list", "actions"]);
    assert.equal(json.code, 0);
    const rows = JSON.parse(json.stdout) as { name: string; state: string }[];
    assert.equal(rows.find((r) => r.name === "deploy")!.state, "disabled (runtime, persisted)");

    const bad = await runCli(["admin", "--socket", socket, "disable", "action", "nope"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /error: no action named "nope"/);

    const unknown = await runCli(["admin", "--socket", socket, "frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate": commands are status, reload/);

    const ban = await runCli(["admin", "--socket", socket, "ban", "192.0.2.1", "--for", "1m"]);
    assert.equal(ban.code, 1);
    assert.match(ban.stderr, /ban: not available in this build/);

    await Deno.writeTextFile(
      `${dir}/broken.yaml`,
      "admin:\n  socket: a.sock\nusers: 5\nbogus: true\n",
    );
    const viaConfig = await runCli(["admin", "--config", `${dir}/broken.yaml`, "messages"]);
    assert.equal(viaConfig.code, 0, viaConfig.stderr);
    assert.equal(viaConfig.stdout.trim(), "(no messages)");

    const gone = await runCli(["admin", "--socket", `${dir}/missing.sock`, "status"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /cannot connect to .*missing\.sock: no such socket/);
  });
});

Deno.test("admin shell without a terminal runs commands line by line", async () => {
  await withSocket(async ({ socket }) => {
    const r = await runCli(["admin", "--socket", socket], {
      stdin: "broadcast 'hello all' --level warning\nmessages\nfrob\n",
    });
    assert.equal(r.code, 1, "a failed command makes the script fail");
    assert.match(r.stdout, /^\[warning\] hello all$/m);
    assert.match(r.stderr, /unknown command "frob"/);
  });
});

Deno.test("admin shell in a pty: completion, history, Ctrl-C, errors, Ctrl-D", async () => {
  await withSocket(async ({ socket, dir }) => {
    const home = `${dir}/home`;
    await Deno.mkdir(home);
    await Deno.writeTextFile(`${home}/.siglatch_history`, "list servers\n");
    const pty = spawnPty(
      [Deno.execPath(), ...RUN_FLAGS, `${ROOT}/main.ts`, "admin", "--socket", socket],
      { HOME: home, DENO_DIR },
    );
    try {
      await pty.waitFor(/siglatch> /, 20_000);
      let mark = pty.output().length;
      // Tab completes the command, the kind and (fetched from the daemon) the name.
      await pty.write("dis\t");
      await pty.waitFor(shown("siglatch> disable "), 5000, mark);
      await pty.write("ac\t");
      await pty.waitFor(shown("disable action "), 5000, mark);
      await pty.write("dep\t");
      await pty.waitFor(shown("disable action deploy "), 5000, mark);
      await pty.write("\r");
      await pty.waitFor(/action deploy disabled at runtime/, 5000, mark);
      // Ambiguous: Tab lists the candidates.
      mark = pty.output().length;
      await pty.write("enable action de\t");
      await pty.waitFor(/deploy {2}debug/, 5000, mark);
      await pty.write("\x15"); // Ctrl-U clears the line
      // An unknown command gives a clear error and the shell carries on.
      mark = pty.output().length;
      await pty.write("frobnicate\r");
      await pty.waitFor(/error: unknown command "frobnicate": commands are status/, 5000, mark);
      // History: up twice recalls the disable command, from this session.
      mark = pty.output().length;
      await pty.write("\x1b[A\x1b[A");
      await pty.waitFor(shown("siglatch> disable action deploy"), 5000, mark);
      // Ctrl-C drops the line.
      await pty.write("\x03");
      await pty.waitFor(/\^C\r+\n/, 5000, mark);
      // Up three times reaches the history file's entry; left/backspace edit it.
      mark = pty.output().length;
      await pty.write("\x1b[A\x1b[A\x1b[A");
      await pty.waitFor(shown("siglatch> list servers"), 5000, mark);
      await pty.write("\x7f\x7f\x7f\x7f\x7f\x7f\x7fusers\r");
      await pty.waitFor(/alice\s+ping,deploy\s+enabled/, 5000, mark);
      // help works in the shell.
      mark = pty.output().length;
      await pty.write("help\r");
      await pty.waitFor(/exit\s+leave the shell/, 5000, mark);
      await pty.write("\x04");
      assert.equal(await pty.close(), 0);
    } catch (err) {
      await pty.close(100);
      throw err;
    }
    const history = await Deno.readTextFile(`${home}/.siglatch_history`);
    assert.deepEqual(history.trim().split("\n"), [
      "list servers",
      "disable action deploy",
      "frobnicate",
      "list users",
      "help",
    ]);
  });
});

Deno.test("admin shell reconnects after the daemon closed an idle connection", async () => {
  await withSocket(async ({ socket, dir }) => {
    const pty = spawnPty(
      [Deno.execPath(), ...RUN_FLAGS, `${ROOT}/main.ts`, "admin", "--socket", socket],
      { HOME: dir, DENO_DIR },
    );
    try {
      await pty.waitFor(/siglatch> /, 20_000);
      await new Promise((r) => setTimeout(r, 800));
      const mark = pty.output().length;
      await pty.write("status\r");
      await pty.waitFor(/config version\s+1/, 5000, mark);
      await pty.write("\x04");
      assert.equal(await pty.close(), 0);
    } catch (err) {
      await pty.close(100);
      throw err;
    }
  }, { idleTimeoutMs: 300 });
});

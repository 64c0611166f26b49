import assert from "node:assert/strict";
import { AdminControl } from "../../src/admin/control.ts";
import { ControlServer } from "../../src/admin/server.ts";
import { AdminClient } from "../../src/client/admin/client.ts";
import { logger, setupLogging, tapLogs } from "../../src/util/log.ts";
import { TestTarget } from "./_target.ts";
import { NOBODY, runDenoAs } from "../_helpers/as_user.ts";

async function withServer(
  fn: (
    ctx: {
      path: string;
      dir: string;
      server: ControlServer;
      target: TestTarget;
      control: AdminControl;
    },
  ) => Promise<void>,
  opts: { maxConnections?: number; maxLineBytes?: number; idleTimeoutMs?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-admin-" });
  const target = new TestTarget();
  const control = new AdminControl(target);
  const server = await ControlServer.start(control, { path: `${dir}/admin.sock`, ...opts });
  try {
    await fn({ path: server.path, dir, server, target, control });
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends raw text, returns the lines received until the server closes or `n` lines arrive. */
async function raw(path: string, text: string, n: number, ms = 5000): Promise<string[]> {
  const conn = await Deno.connect({ transport: "unix", path });
  await conn.write(new TextEncoder().encode(text));
  const lines: string[] = [];
  let buf = "";
  const dec = new TextDecoder();
  const timer = setTimeout(() => conn.close(), ms);
  try {
    const chunk = new Uint8Array(65536);
    while (lines.length < n) {
      const r = await conn.read(chunk).catch(() => null);
      if (r === null) break;
      buf += dec.decode(chunk.subarray(0, r));
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return lines;
}

Deno.test("control socket: mode 0600, request/response, unknown command, bad JSON", async () => {
  await withServer(async ({ path }) => {
    const st = await Deno.stat(path);
    assert.equal(st.isSocket, true);
    assert.equal(st.mode! & 0o777, 0o600);
    const lines = await raw(
      path,
      '{"id":1,"cmd":"status"}\nnot json\n{"id":"x","cmd":"frob"}\n{"id":2}\n',
      4,
    );
    const [a, b, c, d] = lines.map((l) => JSON.parse(l));
    assert.equal(a.id, 1);
    assert.equal(a.ok, true);
    assert.equal(a.result.config_version, 1);
    assert.equal(a.result.running, 1);
    assert.equal(a.result.queued, 2);
    assert.deepEqual(a.result.listening, ["127.0.0.1:40000"]);
    assert.deepEqual(b, {
      id: null,
      ok: false,
      error: 'bad request: not JSON (expected {"id":1,"cmd":"status","args":{}})',
    });
    assert.equal(c.id, "x");
    assert.match(c.error, /unknown command "frob": commands are status, reload, enable/);
    assert.match(d.error, /"cmd" must be one of/);
  });
});

Deno.test("control socket: stale socket replaced, live socket and regular file refused, removed at stop", async () => {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-admin-" });
  try {
    const path = `${dir}/admin.sock`;
    const s1 = await ControlServer.start(new AdminControl(new TestTarget()), { path });
    await assert.rejects(
      ControlServer.start(new AdminControl(new TestTarget()), { path }),
      /another daemon is listening/,
    );
    await s1.stop();
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    await Deno.writeTextFile(path, "not a socket");
    await assert.rejects(
      ControlServer.start(new AdminControl(new TestTarget()), { path }),
      /exists and is not a socket/,
    );
    // A stale socket file left by a killed daemon is removed at start.
    await Deno.remove(path);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", `Deno.listen({transport:"unix",path:${JSON.stringify(path)}}); Deno.exit(0)`],
    });
    await child.output();
    assert.equal((await Deno.lstat(path)).isSocket, true);
    const s2 = await ControlServer.start(new AdminControl(new TestTarget()), { path });
    await s2.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("control socket: a non-root user cannot connect", async () => {
  if (Deno.uid() !== 0) return; // needs root to switch users
  await withServer(async ({ path, dir }) => {
    await Deno.chmod(dir, 0o755);
    const out = await runDenoAs(NOBODY, [
      "eval",
      `try { await Deno.connect({transport:"unix",path:${
        JSON.stringify(path)
      }}); console.log("connected"); } catch (e) { console.log(e.name); }`,
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout.trim(), "PermissionDenied");
  });
});

Deno.test("control socket: connection limit, line limit, idle timeout", async () => {
  await withServer(async ({ path, server }) => {
    const clients = await Promise.all([1, 2].map(() => AdminClient.connect(path)));
    await Promise.all(clients.map((c) => c.request("status")));
    assert.equal(server.connections, 2);
    const [third] = await raw(path, "", 1);
    assert.match(JSON.parse(third).error, /too many admin connections \(at most 2\)/);
    for (const c of clients) c.close();
  }, { maxConnections: 2 });

  await withServer(async ({ path }) => {
    const lines = await raw(path, "x".repeat(2000), 1);
    assert.match(JSON.parse(lines[0]).error, /request line longer than 1024 bytes/);
  }, { maxLineBytes: 1024 });

  await withServer(async ({ path }) => {
    const t0 = Date.now();
    const lines = await raw(path, "", 1);
    assert.match(JSON.parse(lines[0]).error, /idle timeout/);
    assert.ok(Date.now() - t0 < 3000);
  }, { idleTimeoutMs: 300 });
});

Deno.test("control socket: logs --follow streams records until the client closes", async () => {
  setupLogging({ level: "info", format: "json" });
  await withServer(async ({ path, control }) => {
    const untap = tapLogs((r) => control.onLog(r));
    try {
      const log = logger("test");
      log.info("before {n}", { n: 1, decision: "accepted" });
      const got: string[] = [];
      const c = await AdminClient.connect(path);
      await c.follow({ lines: 10 }, (e) => got.push(e.message));
      log.info("after {n}", { n: 2 });
      const deadline = Date.now() + 3000;
      while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got.slice(0, 2), ["before 1", "after 2"]);
      const c2 = await AdminClient.connect(path);
      const recent = await c2.request("logs", { decisions: true });
      assert.ok(recent.ok);
      assert.deepEqual((recent.result as { message: string }[]).map((e) => e.message), [
        "before 1",
      ]);
      c.close();
      c2.close();
    } finally {
      untap();
    }
  });
});

/**
 * The web listener's guards, over real HTTP on loopback with the control socket's command
 * handlers (a test target instead of a daemon): login and its throttle, the session
 * cookie, CSRF, same-origin, content type, body size, Host (DNS rebinding), and the page's
 * commands reaching the handlers.
 * @module
 */
import assert from "node:assert/strict";
import { AdminControl, type ControlExtensions } from "../../src/admin/control.ts";
import { hostAllowed, MAX_BODY, startWeb, type WebServer } from "../../src/web/server.ts";
import { MAX_FAILURES_PER_SOURCE } from "../../src/web/throttle.ts";
import { TestTarget } from "../admin/_target.ts";

const TOKEN = "a-test-token-of-enough-length";

async function withWeb(
  fn: (web: WebServer, target: TestTarget) => Promise<void>,
  extensions?: ControlExtensions,
) {
  const target = new TestTarget();
  const control = new AdminControl(target, { extensions });
  const web = await startWeb({
    hostname: "127.0.0.1",
    port: 0,
    control,
    metrics: () => "# HELP x X.\n# TYPE x gauge\nx 1\n",
    token: TOKEN,
  });
  try {
    await fn(web, target);
  } finally {
    await web.stop();
  }
}

async function login(web: WebServer, token = TOKEN): Promise<Response> {
  return await fetch(`${web.url}/login`, {
    method: "POST",
    body: new URLSearchParams({ token }),
    redirect: "manual",
  });
}

async function session(web: WebServer): Promise<{ cookie: string; csrf: string }> {
  const r = await login(web);
  await r.body?.cancel();
  assert.equal(r.status, 303);
  const setCookie = r.headers.get("set-cookie")!;
  assert.match(setCookie, /^siglatch_session=[\w-]{40,}; Path=\/; HttpOnly; SameSite=Strict/);
  const cookie = setCookie.split(";")[0];
  const state = await (await fetch(`${web.url}/api/state`, { headers: { cookie } })).json();
  return { cookie, csrf: state.csrf };
}

function command(web: WebServer, headers: Record<string, string>, body: unknown) {
  return fetch(`${web.url}/api/command`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

Deno.test("web: a page command with cookie and CSRF token reaches the handlers; without either it does not", async () => {
  await withWeb(async (web, target) => {
    const { cookie, csrf } = await session(web);
    const ok = await command(web, { cookie, "x-csrf-token": csrf }, {
      cmd: "disable",
      args: { kind: "user", name: "bob" },
    });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal((await ok.json()).result.state, "disabled (runtime)");
    assert.ok(target.overrides.has("users", "bob"));

    const noCsrf = await command(web, { cookie }, {
      cmd: "enable",
      args: { kind: "user", name: "bob" },
    });
    assert.equal(noCsrf.status, 403);
    await noCsrf.body?.cancel();
    const badCsrf = await command(web, { cookie, "x-csrf-token": csrf.slice(1) + "x" }, {
      cmd: "enable",
      args: { kind: "user", name: "bob" },
    });
    assert.equal(badCsrf.status, 403);
    await badCsrf.body?.cancel();
    const noCookie = await command(web, { "x-csrf-token": csrf }, { cmd: "reload", args: {} });
    assert.equal(noCookie.status, 401);
    await noCookie.body?.cancel();
    const crossSite = await command(web, {
      cookie,
      "x-csrf-token": csrf,
      origin: "http://evil.example",
    }, { cmd: "reload", args: {} });
    assert.equal(crossSite.status, 403);
    await crossSite.body?.cancel();
    const form = await fetch(`${web.url}/api/command`, {
      method: "POST",
      headers: { cookie, "x-csrf-token": csrf, "content-type": "text/plain" },
      body: JSON.stringify({ cmd: "reload" }),
    });
    assert.equal(form.status, 415);
    await form.body?.cancel();
    const notAllowed = await command(web, { cookie, "x-csrf-token": csrf }, {
      cmd: "logs",
      args: {},
    });
    assert.equal(notAllowed.status, 400);
    await notAllowed.body?.cancel();
    const big = await fetch(`${web.url}/api/command`, {
      method: "POST",
      headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" },
      body: "x".repeat(MAX_BODY + 1),
    });
    assert.equal(big.status, 413);
    await big.body?.cancel();
    assert.ok(target.overrides.has("users", "bob"), "no refused command ran");
  });
});

Deno.test("web: enrollments and cluster nodes in the state; approve and users revoke reach the handlers, users list does not", async () => {
  const calls: string[] = [];
  const commands = {
    users: (args: Record<string, unknown>) => {
      calls.push(`users ${args.op} ${args.name ?? ""}`.trim());
      return Promise.resolve(
        args.op === "list" ? [{ id: 2147483700, name: "guest", kind: "invite (pending)" }] : {
          message: `revoked ${args.name}`,
        },
      );
    },
    approve: (args: Record<string, unknown>) => {
      calls.push(`approve ${args.id}`);
      return Promise.resolve({ message: "approved" });
    },
    nodes: () => Promise.resolve([{ node: "host-a/01020304", self: true }]),
  };
  await withWeb(async (web) => {
    const { cookie, csrf } = await session(web);
    const state = await (await fetch(`${web.url}/api/state`, { headers: { cookie } })).json();
    assert.deepEqual(state.enrollments.map((e: { name: string }) => e.name), ["guest"]);
    assert.deepEqual(state.nodes, [{ node: "host-a/01020304", self: true }]);
    calls.length = 0;
    const h = { cookie, "x-csrf-token": csrf };
    const list = await command(web, h, { cmd: "users", args: { op: "list" } });
    assert.equal(list.status, 400);
    await list.body?.cancel();
    const approve = await command(web, h, { cmd: "approve", args: { id: 2147483700 } });
    assert.equal(approve.status, 200);
    await approve.body?.cancel();
    const revoke = await command(web, h, { cmd: "users", args: { op: "revoke", name: "guest" } });
    assert.equal((await revoke.json()).result.message, "revoked guest");
    assert.deepEqual(calls, ["approve 2147483700", "users revoke guest"]);
  }, { commands });
});

Deno.test("web: wrong tokens are refused and throttled; logout ends the session", async () => {
  await withWeb(async (web) => {
    const { cookie, csrf } = await session(web);
    for (let i = 0; i < MAX_FAILURES_PER_SOURCE; i++) {
      const r = await login(web, `wrong-${i}-xxxxxxxxxxxxxxxx`);
      assert.equal(r.status, 401);
      await r.body?.cancel();
    }
    const throttled = await login(web);
    assert.equal(throttled.status, 401, "even the right token waits out this source's minute");
    await throttled.body?.cancel();
    const out = await fetch(`${web.url}/logout`, {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf }),
      redirect: "manual",
    });
    assert.equal(out.status, 303);
    await out.body?.cancel();
    const after = await fetch(`${web.url}/api/state`, { headers: { cookie } });
    assert.equal(after.status, 401);
    await after.body?.cancel();
  });
});

Deno.test("web: a Host that is not the listen address is refused (DNS rebinding)", async () => {
  await withWeb(async (web) => {
    const port = Number(new URL(web.url).port);
    assert.ok(hostAllowed(`127.0.0.1:${port}`, port, false));
    assert.ok(hostAllowed(`localhost:${port}`, port, false));
    assert.ok(hostAllowed(`[::1]:${port}`, port, false));
    assert.ok(!hostAllowed(`evil.example:${port}`, port, false));
    assert.ok(!hostAllowed(`127.0.0.1:${port + 1}`, port, false));
    assert.ok(!hostAllowed(null, port, false));
    assert.ok(hostAllowed("admin.example.org", port, true));
    // Over the wire: a raw request naming another host.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode(
        `GET /metrics HTTP/1.1\r\nHost: rebind.example:${port}\r\nConnection: close\r\n\r\n`,
      ),
    );
    let reply = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      reply += new TextDecoder().decode(buf.subarray(0, n));
    }
    conn.close();
    assert.match(reply, /^HTTP\/1\.1 421 /);
  });
});

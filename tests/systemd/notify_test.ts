import assert from "node:assert/strict";
import { makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { freeTcpPort, writeToken } from "../web/_web.ts";
import { validNotifyState } from "../../src/systemd/notify.ts";

/** A NOTIFY_SOCKET as systemd has it: a bound Unix datagram socket; collects messages. */
function notifySocket(path: string) {
  const sock = Deno.listenDatagram({ transport: "unixpacket", path });
  const messages: string[] = [];
  const waiters: { re: RegExp; from: number; resolve: () => void }[] = [];
  const loop = (async () => {
    try {
      for await (const [data] of sock) {
        messages.push(new TextDecoder().decode(data));
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (messages.slice(waiters[i].from).some((m) => waiters[i].re.test(m))) {
            waiters.splice(i, 1)[0].resolve();
          }
        }
      }
    } catch {
      // closed
    }
  })();
  return {
    messages,
    /** Resolves when a message from index `from` on matches `re`. */
    until(re: RegExp, from = 0): Promise<void> {
      if (messages.slice(from).some((m) => re.test(m))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        // A guard against a hang, not a timed assertion: name what arrived.
        const t = setTimeout(
          () => reject(new Error(`no ${re} in ${JSON.stringify(messages)}`)),
          30_000,
        );
        waiters.push({ re, from, resolve: () => (clearTimeout(t), resolve()) });
      });
    },
    async close() {
      sock.close();
      await loop;
    },
  };
}

/** Logs in to the dashboard and posts `reload` as the page does. */
async function webReload(base: string, token: string): Promise<void> {
  const login = await fetch(`${base}/login`, {
    method: "POST",
    body: new URLSearchParams({ token }),
    redirect: "manual",
  });
  await login.body?.cancel();
  assert.equal(login.status, 303);
  const cookie = login.headers.get("set-cookie")!.split(";")[0];
  const { csrf } = await (await fetch(`${base}/api/state`, { headers: { cookie } })).json();
  const r = await fetch(`${base}/api/command`, {
    method: "POST",
    headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" },
    body: JSON.stringify({ cmd: "reload", args: {} }),
  });
  assert.equal(r.status, 200, await r.text());
}

// Reloads by SIGHUP, by the admin socket and by the dashboard each send RELOADING then READY.
// (The name stays as tests/config/every_field_test.ts cites it for logging.journal.)
Deno.test("systemd: a NOTIFY_SOCKET listener receives READY, RELOADING, READY again and STOPPING from a real daemon", async () => {
  const webPort = freeTcpPort();
  const fx = await makeFixture({
    top: {
      logging: { level: "info", format: "json", journal: "on" },
      admin: {
        socket: "run/admin.sock",
        web_listen: `127.0.0.1:${webPort}`,
        token_file: "web.token",
      },
    },
  });
  const token = await writeToken(fx.dir);
  // The notify socket must be reachable by the sender (the privileged part when run as root).
  const path = `${fx.dir}/notify.sock`;
  const sock = notifySocket(path);
  const d = await startDaemon(fx.config, [], undefined, {
    NOTIFY_SOCKET: path,
    WATCHDOG_USEC: "300000",
  });
  try {
    await sock.until(/^READY=1/m);
    // WatchdogSec=0.3s: pings at half of it.
    await sock.until(/^WATCHDOG=1$/m);
    d.child.kill("SIGHUP");
    await sock.until(/^RELOADING=1/m);
    await d.waitFor(/reloaded config version 2/);
    await sock.until(/^READY=1/m);
    const i = sock.messages.findIndex((m) => /^RELOADING=1/.test(m));
    if (Deno.build.os === "linux") assert.match(sock.messages[i], /\nMONOTONIC_USEC=\d+$/);
    // READY again after RELOADING (the reload finished).
    await sock.until(/^READY=1/m, i + 1);

    // A reload from the admin socket: RELOADING, then READY again.
    let from = sock.messages.length;
    const viaSocket = await runCli(["admin", "--config", fx.config, "reload"]);
    assert.equal(viaSocket.code, 0, viaSocket.stderr);
    await sock.until(/^RELOADING=1/m, from);
    const j = sock.messages.findIndex((m, k) => k >= from && /^RELOADING=1/.test(m));
    await sock.until(/^READY=1/m, j + 1);
    await d.waitFor(/reloaded config version 3/);

    // A reload from the dashboard: the same.
    from = sock.messages.length;
    await webReload(`http://127.0.0.1:${webPort}`, token);
    await sock.until(/^RELOADING=1/m, from);
    const k = sock.messages.findIndex((m, n) => n >= from && /^RELOADING=1/.test(m));
    await sock.until(/^READY=1/m, k + 1);
    await d.waitFor(/reloaded config version 4/);
    assert.equal(await d.stop(), 0);
    await sock.until(/^STOPPING=1/m);
    assert.ok(sock.messages.every(validNotifyState), JSON.stringify(sock.messages));
    // logging.journal: on — every stderr line carries a syslog priority journald reads.
    const lines = d.logs().split("\n").filter((l) => l !== "");
    assert.ok(lines.length > 3);
    for (const l of lines) assert.match(l, /^<[2-7]>/, l);
    assert.ok(lines.some((l) => l.startsWith("<6>{")), "info is <6>");
  } finally {
    await d.stop();
    await sock.close();
    await fx.cleanup();
  }
});

Deno.test("systemd: the privileged part forwards only the states it knows", () => {
  assert.ok(validNotifyState("READY=1\nSTATUS=serving"));
  assert.ok(validNotifyState("RELOADING=1\nMONOTONIC_USEC=123456"));
  assert.ok(!validNotifyState("MAINPID=1"));
  assert.ok(!validNotifyState("READY=1\nFDSTORE=1"));
  assert.ok(!validNotifyState("STATUS=" + "x".repeat(400)));
  assert.ok(!validNotifyState(42));
});

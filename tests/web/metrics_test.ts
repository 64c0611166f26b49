import assert from "node:assert/strict";
import { aliceRequest, makeFixture, startDaemon } from "../_helpers/daemon.ts";
import { parsePromText, sampleValue } from "../_helpers/prom_text.ts";
import { freeTcpPort, writeToken } from "./_web.ts";
import { VERSION } from "../../src/version.ts";

async function scrape(url: string, headers: HeadersInit = {}) {
  const r = await fetch(url, { headers });
  const body = await r.text();
  return { status: r.status, type: r.headers.get("content-type"), body };
}

Deno.test("/metrics: a Prometheus scrape parses, follows the naming rules, and a ping moves it", async () => {
  const webPort = freeTcpPort();
  const fx = await makeFixture({
    top: { admin: { socket: "run/admin.sock", web_listen: `127.0.0.1:${webPort}` } },
  });
  const d = await startDaemon(fx.config);
  try {
    const url = `http://127.0.0.1:${webPort}/metrics`;
    const before = await scrape(url);
    assert.equal(before.status, 200);
    assert.match(before.type ?? "", /^text\/plain; version=0\.0\.4/);
    const f0 = parsePromText(before.body);
    for (const f of f0.values()) {
      assert.match(f.name, /^siglatch_/);
      if (f.type === "counter") assert.match(f.name, /_total$/, f.name);
      assert.notEqual(f.help, "", `${f.name} has HELP`);
    }
    for (
      const name of [
        "siglatch_bans",
        "siglatch_grants",
        "siglatch_replay_cache_entries",
        "siglatch_actions_queued",
        "siglatch_open_workers",
        "siglatch_open_queue_depth",
        "siglatch_kernel_drops_total",
        "siglatch_request_duration_seconds",
        "siglatch_requests_accepted_total",
        "siglatch_datagrams_total",
      ]
    ) assert.ok(f0.has(name), `${name} exposed`);
    assert.equal(sampleValue(f0, "siglatch_replay_cache_entries"), 0);
    assert.equal(sampleValue(f0, "siglatch_build_info", { version: VERSION }), 1);

    const res = await aliceRequest(fx, 1, "", { retries: 2 });
    assert.equal(res.status, 0, "ping answered");
    // A datagram that does not authenticate: rejected with a reason.
    const c = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    await c.send(new Uint8Array(200), { transport: "udp", hostname: "127.0.0.1", port: fx.port });
    c.close();
    await d.waitFor(/rejected reason=/);

    const f1 = parsePromText((await scrape(url)).body);
    const received = sampleValue(f1, "siglatch_datagrams_received_total")!;
    assert.ok(received >= 2, `received ${received}`);
    assert.equal(
      sampleValue(f1, "siglatch_requests_accepted_total", {
        user: "alice",
        action: "ping",
        status: "ok",
      }),
      1,
    );
    assert.equal(sampleValue(f1, "siglatch_datagrams_total", { verdict: "accepted" }), 1);
    const rejected = [...f1.get("siglatch_datagrams_total")!.samples]
      .filter((s) => s.labels.verdict === "rejected");
    assert.ok(rejected.length >= 1 && rejected.every((s) => s.labels.reason !== ""), "reasons");
    assert.equal(sampleValue(f1, "siglatch_request_duration_seconds_count", { action: "ping" }), 1);
    assert.equal(sampleValue(f1, "siglatch_replay_cache_entries"), 1);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("/metrics with admin.token_file: a Bearer token is needed; the dashboard answers", async () => {
  const webPort = freeTcpPort();
  const fx = await makeFixture({
    top: {
      admin: {
        socket: "run/admin.sock",
        web_listen: `127.0.0.1:${webPort}`,
        token_file: "web.token",
      },
    },
  });
  const token = await writeToken(fx.dir);
  const d = await startDaemon(fx.config);
  try {
    const url = `http://127.0.0.1:${webPort}/metrics`;
    assert.equal((await scrape(url)).status, 401);
    assert.equal(
      (await scrape(url, { authorization: "Bearer wrong-token-of-some-len" })).status,
      401,
    );
    const ok = await scrape(url, { authorization: `Bearer ${token}` });
    assert.equal(ok.status, 200);
    parsePromText(ok.body);
    const root = await fetch(`http://127.0.0.1:${webPort}/`, { redirect: "manual" });
    await root.body?.cancel();
    assert.equal(root.status, 303);
    assert.equal(root.headers.get("location"), "/login");
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("admin.tls_cert/tls_key: the web listener speaks HTTPS with the given certificate", async () => {
  const webPort = freeTcpPort();
  const fx = await makeFixture({
    top: {
      admin: {
        socket: "run/admin.sock",
        web_listen: `127.0.0.1:${webPort}`,
        tls_cert: "web.crt",
        tls_key: "web.key",
      },
    },
  });
  await makeCert(fx.dir);
  await Deno.chmod(`${fx.dir}/web.key`, 0o600);
  const d = await startDaemon(fx.config);
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${fx.dir}/ca.crt`)] });
  try {
    const r = await fetch(`https://127.0.0.1:${webPort}/metrics`, { client });
    assert.equal(r.status, 200);
    parsePromText(await r.text());
    await assert.rejects(fetch(`http://127.0.0.1:${webPort}/metrics`), "plain HTTP is not served");
  } finally {
    client.close();
    await d.stop();
    await fx.cleanup();
  }
});

/** A test CA and a certificate for 127.0.0.1 it signed (web.crt, web.key, ca.crt in `dir`). */
async function makeCert(dir: string): Promise<void> {
  const run = async (args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  };
  await run([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  ]);
  await run([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    "web.key",
    "-out",
    "web.csr",
  ]);
  await Deno.writeTextFile(
    `${dir}/ext.cnf`,
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
  );
  await run([
    "x509",
    "-req",
    "-in",
    "web.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
    "-out",
    "web.crt",
  ]);
}

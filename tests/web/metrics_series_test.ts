/**
 * The issue 15–18 series of `/metrics` against a real daemon: a scrape parses, the new
 * families follow the naming rules, and each moves with the real thing — a session
 * (`send --follow`), an enrollment (pending, then approved), a server and a user key
 * rotation, a relay layer, a decoy hit.
 * @module
 */
import assert from "node:assert/strict";
import {
  aliceOptions,
  freeUdpPort,
  makeFixture,
  runCli,
  spawnCli,
  startDaemon,
} from "../_helpers/daemon.ts";
import { createApprovalInvite } from "../_helpers/invite.ts";
import { parsePromText, type PromFamily, sampleValue } from "../_helpers/prom_text.ts";
import { sendRequest } from "../../src/client/send.ts";
import { addRelayAction } from "../_helpers/relay_nodes.ts";
import { freeTcpPort } from "./_web.ts";

const NEW_FAMILIES = {
  siglatch_client_sessions: "gauge",
  siglatch_client_sessions_opened_total: "counter",
  siglatch_client_sessions_closed_total: "counter",
  siglatch_session_commands_total: "counter",
  siglatch_session_streams_total: "counter",
  siglatch_enrollments: "gauge",
  siglatch_enroll_requests_total: "counter",
  siglatch_server_key_generation: "gauge",
  siglatch_user_key_rotations_total: "counter",
  siglatch_relay_requests_total: "counter",
  siglatch_decoy_hits_total: "counter",
  siglatch_decoy_answers_total: "counter",
} as const;

Deno.test({
  name: "/metrics: sessions, enrollments, rotations, relays and decoy hits are exposed and move",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const webPort = freeTcpPort();
    const decoyPort = freeUdpPort("127.0.0.2");
    const fx = await makeFixture({
      scripts: { "work.sh": "echo one; echo two" },
      actions: [
        { id: 10, name: "work", type: "exec", command: ["$DIR/work.sh"] },
      ],
      aliceActions: ["work"],
      top: {
        admin: { socket: "run/admin.sock", web_listen: `127.0.0.1:${webPort}` },
        decoys: { ports: [{ listen: `127.0.0.2:${decoyPort}`, type: "random" }] },
      },
    });
    // A relay to this daemon itself: a layer through it is refused as a loop.
    const port = fx.port;
    await addRelayAction(fx.config, { to: `127.0.0.1:${port}` });
    const d = await startDaemon(fx.config);
    const url = `http://127.0.0.1:${webPort}/metrics`;
    const scrape = async () => parsePromText(await (await fetch(url)).text());
    const v = (f: Map<string, PromFamily>, name: string, labels?: Record<string, string>) =>
      sampleValue(f, name, labels) ?? NaN;
    /** Scrapes until `ok` holds (what it waits for happens in another process). */
    const until = async (ok: (f: Map<string, PromFamily>) => boolean) => {
      for (;;) {
        const f = await scrape();
        if (ok(f)) return f;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      const f0 = await scrape();
      for (const [name, type] of Object.entries(NEW_FAMILIES)) {
        assert.equal(f0.get(name)?.type, type, `${name} is a ${type}`);
        assert.notEqual(f0.get(name)!.help, "", `${name} has HELP`);
      }
      assert.equal(v(f0, "siglatch_client_sessions_opened_total"), 0);
      assert.equal(v(f0, "siglatch_enrollments", { state: "pending" }), 0);
      assert.equal(v(f0, "siglatch_decoy_hits_total", { type: "random" }), 0);

      // A session: send --follow opens one and streams the output through it.
      const follow = await runCli(["send", "-p", fx.profile, "work", "--follow"]);
      assert.equal(follow.code, 0, follow.stderr);
      assert.equal(follow.stdout, "one\ntwo\n");
      const f1 = await scrape();
      assert.ok(v(f1, "siglatch_client_sessions_opened_total") >= 1);
      assert.ok(v(f1, "siglatch_session_commands_total") >= 1);

      // An enrollment: an open invite, pending once the client asks, enrolled once approved.
      const { invite, id } = await createApprovalInvite(fx.config, "guest5");
      assert.equal(v(await scrape(), "siglatch_enrollments", { state: "open" }), 1);
      const enrolling = spawnCli([
        "enroll",
        invite,
        "--out",
        `${fx.dir}/g5.yaml`,
        "--poll",
        "200ms",
        "--wait",
        "60s",
      ]);
      const enrolled = enrolling.output();
      const f2 = await until((f) => v(f, "siglatch_enrollments", { state: "pending" }) === 1);
      assert.ok(v(f2, "siglatch_enroll_requests_total", { result: "pending" }) >= 1);
      const ok = await runCli(["admin", "--config", fx.config, "approve", String(id)]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((await enrolled).code, 0);
      const f3 = await until((f) => v(f, "siglatch_enrollments", { state: "enrolled" }) === 1);
      assert.equal(v(f3, "siglatch_enrollments", { state: "pending" }), 0);
      assert.equal(v(f3, "siglatch_enroll_requests_total", { result: "enrolled" }), 1);

      // A relay layer (through this daemon to itself: refused as a loop).
      const relayed = await sendRequest(aliceOptions(fx, {
        port,
        timeoutMs: 2000,
        retries: 1,
        via: [{ host: "127.0.0.1", port, serverPublic: fx.serverPublic, actionId: 20 }],
      }));
      assert.equal(relayed.answered, true);
      const f4 = await scrape();
      const relays = f4.get("siglatch_relay_requests_total")!.samples;
      assert.deepEqual(relays.map((s) => s.labels.result).sort(), ["busy", "refused", "relayed"]);
      assert.ok(relays.reduce((n, s) => n + s.value, 0) >= 1, JSON.stringify(relays));

      // A decoy hit (UDP random decoy).
      const c = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.2", port: 0 });
      await c.send(new Uint8Array(40), {
        transport: "udp",
        hostname: "127.0.0.2",
        port: decoyPort,
      });
      c.close();
      await until((f) => v(f, "siglatch_decoy_hits_total", { type: "random" }) === 1);

      // Key rotations: a server key (generation 1) and alice's HMAC key.
      const rs = await runCli(["admin", "--config", fx.config, "rotate", "server", "main"]);
      assert.equal(rs.code, 0, rs.stderr);
      const ru = await runCli(["admin", "--config", fx.config, "rotate", "user", "alice"]);
      assert.equal(ru.code, 0, ru.stderr);
      const f6 = await scrape();
      assert.equal(v(f6, "siglatch_server_key_generation", { server: "main" }), 1);
      assert.equal(v(f6, "siglatch_user_key_rotations_total"), 1);
    } finally {
      await d.stop();
      await fx.cleanup();
    }
  },
});

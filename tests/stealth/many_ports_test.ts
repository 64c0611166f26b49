/**
 * Many ports: one server listens on ranges and lists of ports on several loopback addresses
 * (a real daemon subprocess), answers on every one of them and on nothing else.
 */
import assert from "node:assert/strict";
import { makeFixture } from "../_helpers/daemon.ts";
import { expandListen } from "../../src/config/listen_spec.ts";
import { loadConfigText } from "../../src/config/load.ts";
import { freePortRun } from "./_ports.ts";
import { assertListening, pingAlice, withLocalDaemon } from "./_local_daemon.ts";

Deno.test("listen entries: ranges and lists expand, malformed ones are refused", () => {
  assert.deepEqual(
    expandListen("127.0.0.1:5000-5002"),
    [5000, 5001, 5002].map((port) => ({ host: "127.0.0.1", port, family: 4 })),
  );
  assert.deepEqual(
    expandListen("[::1]:7,9-10"),
    [7, 9, 10].map((port) => ({ host: "::1", port, family: 6 })),
  );
  assert.deepEqual(expandListen("10.0.0.1:53"), [{ host: "10.0.0.1", port: 53, family: 4 }]);
  assert.match(expandListen("127.0.0.1:9-7") as string, /backwards/);
  assert.match(expandListen("127.0.0.1:1-300") as string, /more than 256/);
  assert.match(expandListen("127.0.0.1:5,5") as string, /twice/);
  assert.match(expandListen("127.0.0.1:0-3") as string, /out of range/);
  assert.match(expandListen("host:1-3") as string, /not an IP/);
});

Deno.test("listen: a range that overlaps another entry is a conflict at that entry", async () => {
  const res = await loadConfigText(
    `servers:
  - name: a
    listen: ["127.0.0.1:6000-6002", "127.0.0.1:6002"]
    key_file: k.pem
`,
    "/tmp/x.yaml",
  );
  const f = res.findings.find((f) => f.path.startsWith("servers[0].listen"));
  assert.ok(f, JSON.stringify(res.findings));
  assert.equal(f.path, "servers[0].listen[1]");
  assert.match(f.message, /already listened on/);
});

Deno.test({
  name: "many ports: a daemon answers on 6 ports of 3 loopback addresses, and nowhere else",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    const base = freePortRun(6, hosts);
    const fx = await makeFixture({
      listen: [
        `127.0.0.1:${base}-${base + 2}`,
        `127.0.0.2:${base + 3},${base + 5}`,
        `127.0.0.3:${base}`,
      ],
    });
    await withLocalDaemon(fx, async (daemon) => {
      const ping = (host: string, port: number) => pingAlice(fx, host, port, 700);
      const open: [string, number][] = [
        ["127.0.0.1", base],
        ["127.0.0.1", base + 1],
        ["127.0.0.1", base + 2],
        ["127.0.0.2", base + 3],
        ["127.0.0.2", base + 5],
        ["127.0.0.3", base],
      ];
      const results = await Promise.all(open.map(([h, p]) => ping(h, p)));
      results.forEach((r, i) =>
        assert.equal(r.answered && r.status, 0, `ping on ${open[i].join(":")} is answered`)
      );
      for (const [h, p] of [["127.0.0.2", base + 4], ["127.0.0.3", base + 1]] as const) {
        assert.equal((await ping(h, p)).answered, false, `${h}:${p} is not listened on`);
      }
      for (const [h, p] of open) assertListening(daemon, h, p);
    });
  },
});

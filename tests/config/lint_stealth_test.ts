/** Lint of knock settings: a static sequence warns; a knock port that is the server's own is an error. */
import assert from "node:assert/strict";
import { loadConfigText } from "../../src/config/load.ts";

const server = (knock: string) =>
  `servers:\n  - name: a\n    listen: ["127.0.0.1:7000"]\n    key_file: k.pem\n    knock: ${knock}\n`;

Deno.test("lint: a static knock warns that it can be repeated; own ports are refused", async () => {
  const stat = await loadConfigText(server("{ ports: [7001, 7002] }"), "/tmp/x.yaml");
  const w = stat.findings.find((f) => f.code === "lint.knock_static");
  assert.ok(w, JSON.stringify(stat.findings));
  assert.equal(w.severity, "warning");
  assert.equal(w.path, "servers[0].knock.ports");
  const own = await loadConfigText(server("{ ports: [7001, 7000] }"), "/tmp/x.yaml");
  assert.ok(own.findings.some((f) => f.code === "lint.knock_port" && f.severity === "error"));
  const range = await loadConfigText(
    server("{ derived: { secret_file: s.key, range: [6000, 8000] } }"),
    "/tmp/x.yaml",
  );
  assert.ok(
    range.findings.some((f) => f.code === "lint.knock_port"),
    JSON.stringify(range.findings),
  );
  const ok = await loadConfigText(
    server("{ derived: { secret_file: s.key, range: [40000, 40999] } }"),
    "/tmp/x.yaml",
  );
  assert.ok(!ok.findings.some((f) => f.code.startsWith("lint.knock")), JSON.stringify(ok.findings));
  const dup = await loadConfigText(server("{ ports: [7001, 7001] }"), "/tmp/x.yaml");
  assert.ok(dup.findings.some((f) => /only once/.test(f.message)));
});

Deno.test("lint: knock with port_hopping passes unless a knock port is in the hopping range", async () => {
  const hop = "    port_hopping: { secret_file: h.key, range: [45000, 45999], period: 30s }\n";
  const ok = await loadConfigText(server("{ ports: [7003, 7001, 7002] }") + hop, "/tmp/x.yaml");
  assert.ok(ok.ok, JSON.stringify(ok.findings));
  const inside = await loadConfigText(
    server("{ ports: [7003, 45100, 7002] }") + hop,
    "/tmp/x.yaml",
  );
  const f = inside.findings.find((f) => f.code === "lint.knock_port");
  assert.ok(f, JSON.stringify(inside.findings));
  assert.equal(f.path, "servers[0].knock.ports");
  assert.match(f.message, /45100 is in port_hopping\.range/);
  const derived = await loadConfigText(
    server("{ derived: { secret_file: s.key, range: [45500, 46500] } }") + hop,
    "/tmp/x.yaml",
  );
  assert.ok(
    derived.findings.some((f) =>
      f.code === "lint.knock_port" && f.path === "servers[0].knock.derived"
    ),
    JSON.stringify(derived.findings),
  );
});

import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, MAX_LABEL_SETS, Registry } from "../../src/metrics/registry.ts";
import { parsePromText, sampleValue } from "../_helpers/prom_text.ts";

Deno.test("registry: the exposition parses strictly; label values are escaped", () => {
  const r = new Registry();
  const c = r.add(new Counter("x_requests_total", "Requests\nby user."));
  c.inc({ user: 'a"b\\c\nd' }, 2);
  c.inc({ user: "plain" });
  r.add(new Gauge("x_up", "Up.", () => [{ value: 1 }]));
  const h = r.add(new Histogram("x_duration_seconds", "Durations.", [0.1, 1]));
  h.observe(0.05, { action: "ping" });
  h.observe(0.5, { action: "ping" });
  h.observe(5, { action: "ping" });
  const text = r.render();
  const f = parsePromText(text);
  assert.equal(f.get("x_requests_total")?.type, "counter");
  assert.equal(f.get("x_requests_total")?.help, "Requests\nby user.");
  assert.equal(sampleValue(f, "x_requests_total", { user: 'a"b\\c\nd' }), 2);
  assert.equal(sampleValue(f, "x_up"), 1);
  assert.equal(sampleValue(f, "x_duration_seconds_bucket", { action: "ping", le: "0.1" }), 1);
  assert.equal(sampleValue(f, "x_duration_seconds_bucket", { action: "ping", le: "1" }), 2);
  assert.equal(sampleValue(f, "x_duration_seconds_bucket", { action: "ping", le: "+Inf" }), 3);
  assert.equal(sampleValue(f, "x_duration_seconds_count", { action: "ping" }), 3);
  assert.equal(sampleValue(f, "x_duration_seconds_sum", { action: "ping" }), 5.55);
});

Deno.test("registry: label sets are bounded; past the bound they go to overflow", () => {
  const c = new Counter("y_total", "y");
  for (let i = 0; i < MAX_LABEL_SETS + 50; i++) c.inc({ n: String(i) });
  assert.equal(c.lines().length, MAX_LABEL_SETS + 1);
  assert.equal(c.get({ overflow: "true" }), 50);
});

Deno.test("the strict parser refuses what the spec refuses", () => {
  const bad = [
    "x 1", // no final newline
    "x{a=b} 1\n", // unquoted value
    'x{a="\\t"} 1\n', // unknown escape
    "# TYPE x counter\nx -1\n", // negative counter
    "1x 1\n", // bad name
    "x 1\nx 2\n", // repeated sample
    "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx 2\n", // split family
    "x one\n", // bad value
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', // no +Inf
  ];
  for (const text of bad) assert.throws(() => parsePromText(text), Error, JSON.stringify(text));
  assert.doesNotThrow(() => parsePromText('# HELP x X.\n# TYPE x gauge\nx{a="1"} +Inf 123\n'));
});

Deno.test("docs/grafana-dashboard.json queries only metrics the daemon exposes", async () => {
  const dash = JSON.parse(
    await Deno.readTextFile(new URL("../../docs/grafana-dashboard.json", import.meta.url)),
  );
  const src = await Deno.readTextFile(
    new URL("../../src/metrics/daemon_metrics.ts", import.meta.url),
  );
  const exprs: string[] = dash.panels.flatMap((p: { targets: { expr: string }[] }) =>
    p.targets.map((t) => t.expr)
  );
  assert.ok(exprs.length >= 9);
  for (const e of exprs) {
    for (const name of e.match(/siglatch_[a-z_]+/g) ?? []) {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      assert.ok(src.includes(`"${base}"`), `${name} in ${e} is exposed`);
    }
  }
});

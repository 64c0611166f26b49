/** `siglatch schema` and the committed docs/siglatchd.schema.json. */
import assert from "node:assert/strict";
import { configJsonSchemaText } from "../../src/cli/schema.ts";
import { ROOT, runSiglatch, withTempDir } from "../config/_fixtures.ts";

Deno.test("schema: docs/siglatchd.schema.json is up to date (regenerate: siglatch schema --out docs/siglatchd.schema.json)", async () => {
  const committed = await Deno.readTextFile(`${ROOT}docs/siglatchd.schema.json`);
  assert.equal(committed, configJsonSchemaText());
});

Deno.test("schema: prints draft 2020-12 JSON Schema; --out writes the same", async () => {
  const run = await runSiglatch(["schema"]);
  assert.equal(run.code, 0, run.stderr);
  const schema = JSON.parse(run.stdout);
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.ok(schema.properties.servers && schema.properties.users && schema.properties.actions);
  assert.equal(schema.additionalProperties, false);
  await withTempDir(async (dir) => {
    const out = await runSiglatch(["schema", "--out", `${dir}/s.json`], ["--allow-write"]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await Deno.readTextFile(`${dir}/s.json`), run.stdout);
    const denied = await runSiglatch(["schema", "--out", `${dir}/no/such/dir/s.json`], [
      "--allow-write",
    ]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^siglatch: cannot write /);
  });
});

/**
 * The GitHub workflows parse as YAML and every step runs or uses something (a `: ` in an
 * unquoted step name once turned a step into a nested mapping that GitHub would reject).
 */
import assert from "node:assert/strict";
import { parse } from "yaml";

const ROOT = new URL("../", import.meta.url).pathname;

for (const file of ["ci.yml", "release.yml"]) {
  Deno.test(`.github/workflows/${file}: every job's steps run or use something`, async () => {
    const doc = parse(await Deno.readTextFile(`${ROOT}.github/workflows/${file}`)) as {
      jobs: Record<string, { steps: Record<string, unknown>[] }>;
    };
    const jobs = Object.entries(doc.jobs);
    assert.ok(jobs.length > 0);
    for (const [name, job] of jobs) {
      assert.ok(Array.isArray(job.steps) && job.steps.length > 0, `${name}: no steps`);
      for (const step of job.steps) {
        assert.ok(
          typeof step.run === "string" || typeof step.uses === "string",
          `${name}: step without run/uses: ${JSON.stringify(step)}`,
        );
      }
    }
  });
}

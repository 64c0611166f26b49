/**
 * The pieces of the runtime payload without a build: the ELF reader, the pins matching the
 * Deno version .ci/run installs, the refusal of an unpinned version, the DENO_DIR purity
 * check, and the staged deno.json keeping only the npm imports src/ uses.
 * @module
 */
import assert from "node:assert/strict";
import { elfMachine, TARGETS } from "../../src/release/targets.ts";
import { fetchRuntime, pinnedDenoVersion, RUNTIMES } from "../../src/release/runtime.ts";
import { archSpecific, stageProgram } from "../../src/release/dep_cache.ts";
import { taskFlags } from "../../src/release/package.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("elfMachine reads e_machine of a 64-bit little-endian ELF, nothing else", async () => {
  const head = new Uint8Array(20);
  using file = await Deno.open(Deno.execPath());
  assert.equal(await file.read(head), 20);
  const host = Deno.build.arch === "aarch64" ? 183 : 62;
  assert.equal(elfMachine(head), host);
  const arm = head.slice();
  arm[18] = 183;
  arm[19] = 0;
  assert.equal(elfMachine(arm), TARGETS.aarch64.elfMachine);
  const big = head.slice();
  big[5] = 2; // big-endian
  assert.equal(elfMachine(big), undefined);
  assert.equal(elfMachine(new TextEncoder().encode("#!/bin/sh\necho not elf\n")), undefined);
  assert.equal(elfMachine(head.subarray(0, 19)), undefined);
});

Deno.test("the Deno version .ci/run installs has recorded runtimes for every target", async () => {
  const version = await pinnedDenoVersion(ROOT);
  assert.equal(version, Deno.version.deno, "tests run on the pinned Deno");
  for (const target of Object.keys(TARGETS) as (keyof typeof TARGETS)[]) {
    const pin = RUNTIMES[version]?.[target];
    assert.ok(pin, `${target}: pinned`);
    assert.match(pin.integrity, /^sha512-[A-Za-z0-9+/]{86}==$/);
    assert.match(pin.sha256, /^[0-9a-f]{64}$/);
  }
});

Deno.test("fetchRuntime refuses a Deno version without recorded checksums", async () => {
  const cache = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => fetchRuntime("x86_64", "0.0.1", cache),
      /no recorded checksums for Deno 0\.0\.1/,
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("archSpecific names native addons and os/cpu-restricted packages", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pkg = (name: string) => `${dir}/npm/registry.npmjs.org/${name}/1.0.0`;
    await Deno.mkdir(pkg("pure"), { recursive: true });
    await Deno.writeTextFile(`${pkg("pure")}/package.json`, `{"name":"pure"}`);
    assert.deepEqual(await archSpecific(dir), []);
    await Deno.mkdir(`${pkg("native")}/build`, { recursive: true });
    await Deno.writeFile(`${pkg("native")}/build/addon.node`, new Uint8Array(4));
    await Deno.mkdir(pkg("picky"), { recursive: true });
    await Deno.writeTextFile(`${pkg("picky")}/package.json`, `{"name":"p","cpu":["x64"]}`);
    const found = (await archSpecific(dir)).sort();
    assert.equal(found.length, 2, found.join("\n"));
    assert.match(found[0], /native\/1\.0\.0\/build\/addon\.node: native code/);
    assert.match(found[1], /picky\/1\.0\.0\/package\.json: "cpu" \["x64"\]/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stageProgram keeps only the npm imports src/ uses; every module is an entry", async () => {
  const lib = await Deno.makeTempDir();
  try {
    const entries = await stageProgram(ROOT, lib);
    const staged = JSON.parse(await Deno.readTextFile(`${lib}/deno.json`));
    const full = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
    assert.ok(!("playwright-core" in staged.imports), "test-only playwright-core left out");
    assert.ok(!("fast-check" in staged.imports), "test-only fast-check left out");
    for (const name of ["zod", "yaml", "commander", "@logtape/logtape", "ioredis"]) {
      assert.equal(staged.imports[name], full.imports[name], `${name} kept`);
    }
    assert.deepEqual(staged.tasks, full.tasks);
    assert.ok(entries.includes(`${lib}/main.ts`));
    assert.ok(entries.includes(`${lib}/src/daemon/open_worker.ts`), "a worker's module");
    assert.ok(entries.includes(`${lib}/src/state/redis.ts`), "a dynamically imported module");
  } finally {
    await Deno.remove(lib, { recursive: true });
  }
});

Deno.test("the launcher gets the siglatch task's flags: permissions and V8 flags", async () => {
  const flags = await taskFlags();
  assert.ok(flags.includes("--allow-net") && flags.includes("--allow-ffi"));
  assert.ok(flags.some((f) => f.startsWith("--v8-flags=")));
  assert.ok(!flags.includes("main.ts") && !flags.includes("run"));
});

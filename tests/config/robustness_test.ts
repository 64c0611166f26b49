/**
 * The loader never throws and never prints a stack trace: every hostile or broken input
 * becomes one clear error finding.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { loadConfig, loadConfigText } from "../../src/config/load.ts";
import { MAX_CONFIG_BYTES } from "../../src/config/source.ts";
import { withTempDir } from "./_fixtures.ts";

function oneError(res: Awaited<ReturnType<typeof loadConfig>>, code: string, re: RegExp) {
  assert.equal(res.ok, false);
  const errors = res.findings.filter((f) => f.severity === "error");
  assert.equal(errors.length, 1, JSON.stringify(errors, null, 1));
  assert.equal(errors[0].code, code);
  assert.match(errors[0].message, re);
  assert.doesNotMatch(errors[0].message, /\n|at .*\.ts:\d+/, "no stack trace");
  return errors[0];
}

async function loadBytes(bytes: Uint8Array) {
  return await withTempDir(async (dir) => {
    const path = `${dir}/c.yaml`;
    await Deno.writeFile(path, bytes);
    return await loadConfig(path);
  });
}

Deno.test("robust: binary garbage", async () => {
  const bytes = new Uint8Array(4096);
  let x = 12345;
  for (let i = 0; i < bytes.length; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  await oneError(await loadBytes(bytes), "file.not_text", /not a YAML text file/);
});

Deno.test("robust: invalid UTF-8 is located", async () => {
  const bytes = new Uint8Array([...new TextEncoder().encode("servers: []\nx: "), 0xc3, 0x28, 10]);
  const f = await oneError(await loadBytes(bytes), "file.not_text", /not UTF-8/);
  assert.deepEqual([f.line, f.col], [2, 4]);
});

Deno.test("robust: empty file and comments only", async () => {
  await oneError(await loadBytes(new Uint8Array()), "config.empty", /^empty config/);
  await oneError(await loadConfigText("# nothing\n\n", "c.yaml"), "config.empty", /empty/);
  await oneError(await loadConfigText("~\n", "c.yaml"), "config.empty", /empty/);
});

Deno.test("robust: a 50 MB file is refused before parsing", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/big.yaml`;
    const line = new TextEncoder().encode("# " + "x".repeat(1021) + "\n");
    const file = await Deno.open(path, { write: true, create: true });
    for (let i = 0; i < 50 * 1024; i++) await file.write(line);
    file.close();
    const t0 = performance.now();
    await oneError(await loadConfig(path), "file.too_large", new RegExp(`${MAX_CONFIG_BYTES}`));
    assert.ok(performance.now() - t0 < 2000, "refused quickly");
  });
});

Deno.test("robust: YAML alias bomb", async () => {
  let text = "a: &a [x, x, x, x, x, x, x, x, x]\n";
  let prev = "a";
  for (let i = 0; i < 9; i++) {
    text += `b${i}: &b${i} [${Array(9).fill(`*${prev}`).join(", ")}]\n`;
    prev = `b${i}`;
  }
  await oneError(await loadConfigText(text, "c.yaml"), "yaml.alias_bomb", /alias bomb/);
});

Deno.test("robust: deep nesting", async () => {
  const flow = "a: " + "[".repeat(100_000) + "]".repeat(100_000) + "\n";
  await oneError(await loadConfigText(flow, "c.yaml"), "yaml.too_deep", /nested too deeply/);
  const block = Array.from({ length: 3000 }, (_, i) => `${" ".repeat(i)}- `).join("\n") + "x\n";
  const res = await loadConfigText(block, "c.yaml");
  assert.equal(res.ok, false);
  assert.equal(res.findings.filter((f) => f.severity === "error").length, 1);
});

Deno.test("robust: YAML syntax error has its line:col", async () => {
  const f = await oneError(
    await loadConfigText("servers:\n  - name: a\n    listen: [1, 2\nusers: []\n", "c.yaml"),
    "yaml.syntax",
    /^YAML syntax error: /,
  );
  assert.deepEqual([f.line, f.col], [4, 1]);
});

Deno.test("robust: top level that is not a mapping", async () => {
  const f = await oneError(
    await loadConfigText("- servers\n", "c.yaml"),
    "config.not_mapping",
    /top level must be a mapping.*found a list/,
  );
  assert.deepEqual([f.line, f.col], [1, 1]);
  await oneError(await loadConfigText("hello\n", "c.yaml"), "config.not_mapping", /found text/);
});

Deno.test("robust: duplicate keys point at the second key", async () => {
  const f = await oneError(
    await loadConfigText("logging:\n  level: info\n  level: debug\n", "c.yaml"),
    "yaml.syntax",
    /unique/,
  );
  assert.deepEqual([f.line, f.col], [3, 3]);
});

Deno.test("robust: unknown tag, undefined alias, several documents", async () => {
  await oneError(await loadConfigText("servers: !evil []\n", "c.yaml"), "yaml.tag", /tag/);
  await oneError(await loadConfigText("servers: *nope\n", "c.yaml"), "yaml.syntax", /alias/i);
  const multi = await loadConfigText("servers: []\n---\nusers: []\n", "c.yaml");
  assert.equal(multi.ok, false);
});

Deno.test("robust: a directory, a missing file", async () => {
  await withTempDir(async (dir) => {
    await oneError(await loadConfig(dir), "file.unreadable", /directory/);
    await oneError(await loadConfig(`${dir}/nope.yaml`), "file.unreadable", /no such file/);
  });
});

Deno.test("robust: arbitrary text never throws and every finding is well formed", async () => {
  const pieces = fc.constantFrom(
    "servers:",
    "  - ",
    "name: a",
    "listen: [",
    "]",
    "&x ",
    "*x",
    "users: {",
    "}",
    "id: -1",
    "\n",
    "  ",
    ": ",
    "- ",
    '"',
    "'",
    "#",
    "!tag ",
    "? ",
    "|",
    ">",
    "\t",
  );
  const text = fc.oneof(fc.string(), fc.array(pieces, { maxLength: 60 }).map((p) => p.join("")));
  await fc.assert(
    fc.asyncProperty(text, async (t) => {
      const res = await loadConfigText(t, "p.yaml");
      for (const f of res.findings) {
        assert.ok(f.line >= 1 && f.col >= 1 && f.message.length > 0 && f.code.length > 0);
      }
      if (!res.ok) assert.ok(res.findings.some((f) => f.severity === "error"));
    }),
    { numRuns: 300 },
  );
});

/**
 * The repository stays `deno fmt` and `deno lint` clean (CI's workflow runs both too, but
 * `.ci/run` runs only the test suite; this keeps a formatting slip from landing unseen).
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

async function deno(...args: string[]): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("deno fmt --check finds nothing to format", async () => {
  const r = await deno("fmt", "--check");
  assert.equal(r.code, 0, r.text);
});

Deno.test("deno lint finds nothing", async () => {
  const r = await deno("lint");
  assert.equal(r.code, 0, r.text);
});

Deno.test("src/ has one hex/base64 codec: the platform's (no hand-written ones)", async () => {
  const handWritten = [
    /\bbtoa\(/,
    /\batob\(/,
    /\.toString\(16\)\.padStart\(2/,
  ];
  const offenders: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts") && path !== `${ROOT}src/util/log.ts`) {
        const text = await Deno.readTextFile(path);
        for (const re of handWritten) if (re.test(text)) offenders.push(`${path}: ${re}`);
      }
    }
  };
  await walk(`${ROOT}src`);
  assert.deepEqual(offenders, [], "use Uint8Array toHex/fromHex/toBase64/fromBase64");
});

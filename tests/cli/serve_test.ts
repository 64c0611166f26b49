/**
 * `serve` loads optional dependencies only when the config needs them: a daemon on the
 * embedded Deno KV store never imports ioredis (~18 MB of RSS). Observable from outside:
 * ioredis' `debug` dependency lists every environment variable when it is evaluated, which
 * throws `NotCapable` under an `--allow-env` list. The daemon runs under such a list, so it
 * can only start if ioredis was never evaluated.
 * @module
 */
import assert from "node:assert/strict";
import { aliceRequest, makeFixture, ROOT } from "../_helpers/daemon.ts";
import { PERMISSION_FLAGS, V8_FLAGS } from "../_helpers/flags.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";

/**
 * The shipped permissions with env access narrowed to the variables the KV daemon reads
 * (NO_COLOR; LOG_TOKENS and LOG_STREAM by the yaml parser).
 */
const NARROW_ENV_FLAGS = [
  "run",
  ...PERMISSION_FLAGS.filter((f) => f !== "--allow-env"),
  "--allow-env=NO_COLOR,LOG_TOKENS,LOG_STREAM",
  ...V8_FLAGS,
];

/** Runs a Deno child under NARROW_ENV_FLAGS until it exits or `stopWhen` shows in stderr. */
async function runNarrow(
  args: string[],
  stopWhen?: RegExp,
  whileUp?: () => Promise<void>,
): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...NARROW_ENV_FLAGS, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let stderr = "";
  const dec = new TextDecoder();
  for await (const chunk of child.stderr) {
    stderr += dec.decode(chunk, { stream: true });
    if (stopWhen?.test(stderr)) {
      if (/siglatchd ready/.test(stderr)) await whileUp?.();
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited (it failed to start)
      }
      break;
    }
  }
  // Drain what is left so the child never blocks on a full pipe.
  await child.stderr.cancel().catch(() => {});
  const { code } = await child.status;
  return { code, stderr };
}

Deno.test("control: importing ioredis fails under the narrowed env permission", async () => {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-lazy-" });
  try {
    const script = `${dir}/import_ioredis.ts`;
    await Deno.writeTextFile(script, 'await import("ioredis");\nconsole.error("loaded");\n');
    const r = await runNarrow(["--config", `${ROOT}/deno.json`, script]);
    assert.notEqual(r.code, 0, `ioredis loaded under the narrowed env:\n${r.stderr}`);
    assert.match(r.stderr, /NotCapable|env access/);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("serve with a Deno KV state store never imports ioredis", async () => {
  const fx = await makeFixture();
  try {
    let answered = false;
    const r = await runNarrow(
      [`${ROOT}/main.ts`, "serve", "--config", fx.config],
      /siglatchd ready|internal error|cannot|NotCapable/,
      async () => {
        const reply = await aliceRequest(fx, 1, "", { retries: 2 });
        answered = reply.answered && reply.status === ReplyStatus.Ok;
      },
    );
    assert.match(r.stderr, /siglatchd ready/, `the daemon did not start:\n${r.stderr}`);
    assert.ok(answered, `ping was not answered:\n${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await fx.cleanup();
  }
});

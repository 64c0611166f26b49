/**
 * Runs a benchmark script as a real child Deno for the tests that keep `bench/` from rotting.
 * @module
 */
import { ROOT } from "../_helpers/daemon.ts";

/**
 * Runs `bench/<script>` with `args` (Deno given `flags`, default `run -A`; NO_COLOR set) and
 * waits for it: exit code, stdout, stderr.
 */
export async function runBench(
  script: string,
  args: string[],
  flags: readonly string[] = ["run", "-A"],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [...flags, `${ROOT}/bench/${script}`, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

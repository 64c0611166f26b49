/**
 * Shared fixtures for the config tests: a minimal valid config, temp dirs, and running
 * the real CLI (main.ts) as a subprocess.
 * @module
 */

/** Repository root (absolute path). */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** A minimal valid server block (YAML lines, 2-space indent under `servers:`). */
export const SERVER = `servers:
  - name: s
    listen: ["127.0.0.1:62201"]
    key_file: server.key
`;

/** A temp dir removed after `fn`. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-config-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The output of a CLI run. */
export interface CliRun {
  /** Exit status. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Runs `deno run --allow-read --allow-env main.ts ARGS` from the repository root. */
export async function runSiglatch(args: string[], extraPerms: string[] = []): Promise<CliRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", ...extraPerms, "main.ts", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Writes the key files a config refers to, with the given mode. */
export async function writeKey(path: string, mode = 0o600, text = "x".repeat(44) + "\n") {
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, mode);
}

/**
 * The program and its prefilled DENO_DIR for the runtime payload: the source tree staged
 * with a deno.json that names only the npm packages `src/` imports (the test-only ones, like
 * playwright-core and fast-check, stay out), and a DENO_DIR filled by `deno cache` with every
 * module the daemon, its workers and the client load, so `deno run --cached-only` needs no
 * network. Only the DENO_DIR's `npm/` folder is kept: the rest (transpile and analysis
 * caches) is keyed by the build's paths and rebuilt at run time. The packages must be pure
 * JavaScript so one cache serves every target: a native addon, a `binding.gyp` or an
 * `os`/`cpu` restriction in any package.json fails the build.
 * @module
 */
import { join, relative } from "node:path";

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* walk(path);
    else if (e.isFile) yield path;
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  for await (const file of walk(from)) {
    const dest = join(to, relative(from, file));
    await Deno.mkdir(join(dest, ".."), { recursive: true });
    await Deno.copyFile(file, dest);
    await Deno.chmod(dest, 0o644);
  }
}

/** True when some source text imports `name` (bare or a subpath). */
function imports(texts: string[], name: string): boolean {
  const esc = name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const re = new RegExp(`(?:from|import)\\s*\\(?\\s*["']${esc}(?:/[^"']*)?["']`);
  return texts.some((t) => re.test(t));
}

/**
 * Stages `root`'s program (main.ts, src/, deno.json, deno.lock) into `lib`, with the
 * deno.json "imports" cut to the entries main.ts and src/ use; returns the entry files
 * (main.ts and every module under src/, so workers and dynamic imports are cached too).
 */
export async function stageProgram(root: string, lib: string): Promise<string[]> {
  await copyTree(join(root, "src"), join(lib, "src"));
  for (const f of ["main.ts", "deno.lock"]) {
    await Deno.copyFile(join(root, f), join(lib, f));
    await Deno.chmod(join(lib, f), 0o644);
  }
  const entries = [join(lib, "main.ts")];
  for await (const f of walk(join(lib, "src"))) if (f.endsWith(".ts")) entries.push(f);
  entries.sort();
  const texts = await Promise.all(entries.map((f) => Deno.readTextFile(f)));
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  const kept: Record<string, string> = {};
  for (const [name, spec] of Object.entries(config.imports ?? {})) {
    if (imports(texts, name)) kept[name] = spec as string;
  }
  config.imports = kept;
  await Deno.writeTextFile(join(lib, "deno.json"), JSON.stringify(config, null, 2) + "\n");
  return entries;
}

/** Why `denoDir`'s npm cache would not serve another CPU: one line per finding. */
export async function archSpecific(denoDir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const file of walk(join(denoDir, "npm"))) {
    const rel = relative(denoDir, file);
    if (file.endsWith(".node") || file.endsWith("/binding.gyp")) found.push(`${rel}: native code`);
    if (!file.endsWith("/package.json")) continue;
    let pkg: Record<string, unknown>;
    try {
      pkg = JSON.parse(await Deno.readTextFile(file));
    } catch {
      continue; // a fixture inside a package, not its manifest
    }
    for (const key of ["os", "cpu", "gypfile"]) {
      if (pkg[key] !== undefined) found.push(`${rel}: "${key}" ${JSON.stringify(pkg[key])}`);
    }
  }
  return found;
}

/**
 * Fills `denoDir` with what the staged program in `lib` loads (`deno cache` run by `deno`,
 * DENO_DIR set), keeps only its `npm/` folder and checks it is target-independent.
 * `deno cache` also prunes the staged deno.lock to the packages kept.
 */
export async function fillDenoDir(
  deno: string,
  lib: string,
  entries: string[],
  denoDir: string,
): Promise<void> {
  const out = await new Deno.Command(deno, {
    args: ["cache", "--quiet", "--config", join(lib, "deno.json"), ...entries],
    cwd: lib,
    env: { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`deno cache: ${new TextDecoder().decode(out.stderr).trim().split("\n")[0]}`);
  }
  for await (const e of Deno.readDir(denoDir)) {
    if (e.name !== "npm") await Deno.remove(join(denoDir, e.name), { recursive: true });
  }
  const found = await archSpecific(denoDir);
  if (found.length > 0) {
    throw new Error(`the npm cache is not target-independent:\n  ${found.join("\n  ")}`);
  }
}

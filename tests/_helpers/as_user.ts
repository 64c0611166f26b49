/**
 * Runs Deno as another user (e.g. `nobody`) from a test that runs as root.
 *
 * `Deno.execPath()` may live where only root can reach it: `npx -y deno@…` keeps the binary in
 * npm's cache under `/root` (mode 0700), so spawning it with `uid: 65534` fails with EACCES
 * before the child runs. The helper links (or, across filesystems, copies) the binary into a
 * fresh temp dir that everyone can traverse, gives the user a HOME and DENO_DIR it owns there,
 * and removes the dir afterwards.
 * @module
 */

/** What a child run as another user printed. */
export interface DenoAsResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Options of {@link runDenoAs}. */
export interface DenoAsOptions {
  /** The Deno binary to run a copy of (default: the running one). */
  deno?: string;
  /**
   * Repository files (relative to the repo root) copied to the same relative paths in the
   * child's working dir, for `deno eval` code that imports them: the checkout itself may sit
   * where the user cannot read it (e.g. under /root).
   */
  files?: string[];
}

/** Repository root. */
const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** The uid/gid of `nobody`/`nogroup` on Debian. */
export const NOBODY = { uid: 65534, gid: 65534 } as const;

/**
 * Runs `deno <args>` as `uid:gid` with a private HOME (also the working dir) and DENO_DIR, from a
 * copy of the Deno binary that the user can execute wherever the original lives.
 *
 * @example
 * const r = await runDenoAs(NOBODY, ["eval", "console.log(Deno.uid())"]);
 * // r.stdout === "65534\n"
 */
export async function runDenoAs(
  user: { uid: number; gid: number },
  args: string[],
  opts: DenoAsOptions = {},
): Promise<DenoAsResult> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-deno-as-" });
  try {
    await Deno.chmod(dir, 0o755);
    const bin = `${dir}/deno`;
    await placeBinary(opts.deno ?? Deno.execPath(), bin);
    const home = `${dir}/home`;
    await Deno.mkdir(`${home}/deno`, { recursive: true });
    for (const file of opts.files ?? []) {
      const dest = `${home}/${file}`;
      await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
      await Deno.copyFile(`${ROOT}/${file}`, dest);
    }
    for await (const path of walkDirs(home)) await Deno.chmod(path, 0o755);
    await Deno.chown(home, user.uid, user.gid);
    await Deno.chown(`${home}/deno`, user.uid, user.gid);
    const out = await new Deno.Command(bin, {
      args,
      uid: user.uid,
      gid: user.gid,
      cwd: home,
      clearEnv: true,
      env: { HOME: home, DENO_DIR: `${home}/deno`, PATH: "/usr/bin:/bin", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Puts an executable-by-all copy of `src` at `dest`: a hard link when the inode is already
 * world-executable (no 100+ MB copy; the inode's mode is left alone), else a copy made 0755.
 */
async function placeBinary(src: string, dest: string): Promise<void> {
  try {
    await Deno.link(src, dest);
    if ((((await Deno.stat(dest)).mode ?? 0) & 0o005) === 0o005) return;
    await Deno.remove(dest);
  } catch {
    // other filesystem: copy instead
  }
  await Deno.copyFile(src, dest);
  await Deno.chmod(dest, 0o755);
}

/** `dir` and every directory under it (makeTempDir and mkdir may leave them 0700 under umask). */
async function* walkDirs(dir: string): AsyncGenerator<string> {
  yield dir;
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) yield* walkDirs(`${dir}/${e.name}`);
  }
}

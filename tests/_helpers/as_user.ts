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

/** The uid/gid of `nobody`/`nogroup` on Debian. */
export const NOBODY = { uid: 65534, gid: 65534 } as const;

/**
 * Runs `deno <args>` as `uid:gid` with a private HOME and DENO_DIR, from a copy of the `deno`
 * binary (default: the running one) that the user can execute wherever the original lives.
 *
 * @example
 * const r = await runDenoAs(NOBODY, ["eval", "console.log(Deno.uid())"]);
 * // r.stdout === "65534\n"
 */
export async function runDenoAs(
  user: { uid: number; gid: number },
  args: string[],
  deno: string = Deno.execPath(),
): Promise<DenoAsResult> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-deno-as-" });
  try {
    await Deno.chmod(dir, 0o755);
    const bin = `${dir}/deno`;
    await placeBinary(deno, bin);
    const home = `${dir}/home`;
    await Deno.mkdir(`${home}/deno`, { recursive: true });
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

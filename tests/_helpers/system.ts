/**
 * Test helpers for tests that need a system tool (redis-server, nft, ip, openssl, …).
 *
 * When the tool is missing the test is skipped with a line naming the package; with
 * `SIGLATCH_REQUIRE_ALL=1` (set by .ci/run) it runs and fails instead.
 * @module
 */

/** True when `name` is an executable on PATH. */
export function hasCommand(name: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return true;
    } catch {
      // not in this dir
    }
  }
  for (const dir of ["/usr/sbin", "/sbin"]) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** True when every test must run (CI). */
export const requireAll = Deno.env.get("SIGLATCH_REQUIRE_ALL") === "1";

/** True when running as root (needed for namespaces, nftables and run_as). */
export const isRoot = Deno.uid?.() === 0;

const announced = new Set<string>();

/**
 * Returns `true` when the test should be ignored because `command` (from Debian `pkg`)
 * is missing, printing why once. Under SIGLATCH_REQUIRE_ALL=1 it never ignores.
 */
export function skipWithout(command: string, pkg: string): boolean {
  if (hasCommand(command) || requireAll) return false;
  if (!announced.has(command)) {
    announced.add(command);
    console.log(
      `SKIP: '${command}' not installed (apt-get install ${pkg}); tests that need it are ignored`,
    );
  }
  return true;
}

/** Returns `true` when a root-only test should be ignored (not root and not required). */
export function skipUnlessRoot(what: string): boolean {
  if (isRoot || requireAll) return false;
  if (!announced.has("root")) {
    announced.add("root");
    console.log(`SKIP: not root; ${what} tests are ignored`);
  }
  return true;
}

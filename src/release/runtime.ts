/**
 * The Deno runtime a release ships for each target when `deno compile --target` cannot
 * fetch its denort: the `deno` binary of npm's `@deno/linux-<arch>-glibc` (the optional
 * dependencies of npm `deno`), at the version `.ci/run` pins, checked against checksums
 * recorded here (the npm tarball's sha512 integrity and the binary's sha256), and kept in a
 * local cache so a rebuild does not fetch 80 MB again. Fetched with `npm pack`, so npm's own
 * registry settings (mirror, proxy) apply.
 * @module
 */
import { join } from "node:path";
import { elfMachine, type Target, TARGETS } from "./targets.ts";

/** One pinned runtime: npm package and the checksums it must have. */
export interface RuntimePin {
  /** npm package name. */
  npm: string;
  /** npm `dist.integrity` of the package tarball (sha512, base64). */
  integrity: string;
  /** sha256 (hex) of the `deno` binary inside it. */
  sha256: string;
}

/**
 * Recorded runtimes by Deno version. A new version in `.ci/run` needs its line here:
 * `npm view @deno/linux-x64-glibc@V dist.integrity`, and `sha256sum package/deno` of the
 * tarball `npm pack` fetched.
 */
export const RUNTIMES: Record<string, Record<Target, RuntimePin>> = {
  "2.9.6": {
    x86_64: {
      npm: "@deno/linux-x64-glibc",
      integrity:
        "sha512-3md4TKLCuzsLDmfOoC5KN7NAZaxSVkMgm64vg6foD00JBADCpYS2/5QqXfzgnP5ZQz3iLP9vBQJtEgc116OAoQ==",
      sha256: "bceb5b6a6239b0b010418406d8c77a508f67cf4337d94288f1c19fe71304aab0",
    },
    aarch64: {
      npm: "@deno/linux-arm64-glibc",
      integrity:
        "sha512-poqhoH9B3nYloigEMPT5t8HY+wBeiuea1An5Q7fqgJzP0SYmWsoS/oUnWO/pEiA4ofzIBy1Elt/in58xKtxEoQ==",
      sha256: "d08d392418df53f4e6e88a08909c0e1bccbf9adcead7232df72b6ad6075ec416",
    },
  },
};

/** The Deno version `.ci/run` installs (`DENO_VERSION=…`), which the release ships. */
export async function pinnedDenoVersion(root: string): Promise<string> {
  const text = await Deno.readTextFile(`${root}/.ci/run`);
  const m = /^DENO_VERSION=([0-9][0-9A-Za-z.+-]*)$/m.exec(text);
  if (!m) throw new Error(`${root}/.ci/run: no DENO_VERSION= line`);
  return m[1];
}

/** A fetched, verified runtime. */
export interface Runtime {
  /** Path of the verified `deno` binary (in the cache). */
  path: string;
  /** Deno version. */
  version: string;
  /** What it was checked against. */
  pin: RuntimePin;
}

async function sha(
  algo: "SHA-256" | "SHA-512",
  bytes: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest(algo, bytes));
}

async function binaryOk(path: string, pin: RuntimePin, target: Target): Promise<boolean> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(path);
  } catch {
    return false;
  }
  return (await sha("SHA-256", bytes)).toHex() === pin.sha256 &&
    elfMachine(bytes.subarray(0, 20)) === TARGETS[target].elfMachine;
}

/** Default cache of fetched runtimes: `$XDG_CACHE_HOME/siglatch-release` (else ~/.cache). */
export function defaultRuntimeCache(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const base = xdg && xdg.startsWith("/") ? xdg : `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${base}/siglatch-release`;
}

/**
 * The verified `deno` of `target` at `version`: from `cacheDir` when its sha256 matches,
 * else fetched with `npm pack`, its tarball checked against the recorded integrity, the
 * binary against the recorded sha256 and the target's ELF machine. Throws on any mismatch.
 */
export async function fetchRuntime(
  target: Target,
  version: string,
  cacheDir: string,
  log: (line: string) => void = () => {},
): Promise<Runtime> {
  const pin = RUNTIMES[version]?.[target];
  if (!pin) {
    throw new Error(
      `no recorded checksums for Deno ${version} on ${target}: add them to RUNTIMES in ` +
        "src/release/runtime.ts",
    );
  }
  const path = join(cacheDir, version, target, "deno");
  if (await binaryOk(path, pin, target)) return { path, version, pin };
  const tmp = await Deno.makeTempDir({ prefix: "siglatch-runtime-" });
  try {
    const spec = `${pin.npm}@${version}`;
    log(`${target}: fetching ${spec} with npm pack`);
    const pack = await new Deno.Command("npm", {
      args: ["pack", spec, "--pack-destination", tmp, "--silent"],
      cwd: tmp,
      stdout: "piped",
      stderr: "piped",
    }).output().catch((err: Error) => {
      throw new Error(`npm pack ${spec}: ${err.message} (is npm installed?)`);
    });
    if (!pack.success) {
      const why = new TextDecoder().decode(pack.stderr).trim().split("\n").pop();
      throw new Error(`npm pack ${spec}: ${why}`);
    }
    const tgz = [...Deno.readDirSync(tmp)].find((e) => e.name.endsWith(".tgz"))?.name;
    if (!tgz) throw new Error(`npm pack ${spec}: no tarball`);
    const tarball = await Deno.readFile(join(tmp, tgz));
    const integrity = `sha512-${(await sha("SHA-512", tarball)).toBase64()}`;
    if (integrity !== pin.integrity) {
      throw new Error(`${spec}: tarball integrity ${integrity}, recorded ${pin.integrity}`);
    }
    const untar = await new Deno.Command("tar", {
      args: ["-xzf", join(tmp, tgz), "-C", tmp, "package/deno"],
      stderr: "piped",
    }).output();
    if (!untar.success) throw new Error(`${spec}: no package/deno in the tarball`);
    if (!(await binaryOk(join(tmp, "package", "deno"), pin, target))) {
      throw new Error(`${spec}: package/deno does not match the recorded sha256 or ELF machine`);
    }
    await Deno.mkdir(join(cacheDir, version, target), { recursive: true });
    // Copied beside its final name, then renamed: a reader never sees half a binary.
    // (A name of its own: two builds may fetch at once, e.g. test files run in parallel.)
    const part = `${path}.${crypto.randomUUID()}.part`;
    await Deno.copyFile(join(tmp, "package", "deno"), part);
    await Deno.chmod(part, 0o755);
    await Deno.rename(part, path);
    return { path, version, pin };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * `deno task package`: the release for Linux x86_64 and aarch64 (the daemon is Linux-only:
 * nftables, setsid, cgroups, privilege separation; macOS and Windows builds could only run
 * the client, and nothing tests them). Per architecture: a tarball and a `.deb` with the
 * program, the systemd unit, the example config, the docs, man pages and shell completions
 * generated from the CLI definition; then `SHA256SUMS`, signed with an Ed25519 key.
 *
 * The program is, first choice, one binary from `deno compile --target`, which downloads
 * the target's runtime (denort) from Deno's release server. Where that server cannot be
 * reached (an offline machine, this project's CI), `--payload auto` falls back to the
 * runtime payload, which needs neither Deno nor a network on the installed machine:
 * `/usr/lib/siglatch/deno` (the target's own Deno from npm, pinned and checksummed in
 * runtime.ts), the program under `/usr/lib/siglatch`, a prefilled DENO_DIR with its npm
 * packages (dep_cache.ts), and a `/usr/bin/siglatch` launcher that runs
 * `deno run --cached-only` with the `siglatch` task's flags.
 * @module
 */
import { createPrivateKey, createPublicKey, sign } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { VERSION } from "../version.ts";
import { LIBC_CANDIDATES } from "../net/sockopt.ts";
import { buildProgram } from "../cli/mod.ts";
import "../cli/all.ts";
import { bashCompletion, fishCompletion, manPages, zshCompletion } from "./cli_docs.ts";
import { type Target, TARGETS } from "./targets.ts";
import { defaultRuntimeCache, fetchRuntime, pinnedDenoVersion, type Runtime } from "./runtime.ts";
import { fillDenoDir, stageProgram } from "./dep_cache.ts";

export { type Target, TARGETS };

/** Repository root. */
const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Options of {@linkcode buildRelease}. */
export interface ReleaseOptions {
  /** Output directory. */
  out: string;
  /** Targets (default both). */
  targets?: Target[];
  /** `compile` (fail without a denort download), `runtime`, or `auto` (compile, else runtime). */
  payload?: "compile" | "runtime" | "auto";
  /** Where fetched runtimes are kept between builds (default {@linkcode defaultRuntimeCache}). */
  runtimeCache?: string;
  /** PEM PKCS#8 Ed25519 private key that signs SHA256SUMS (unsigned without). */
  signKey?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What {@linkcode buildRelease} made. */
export interface ReleaseResult {
  /** Artifact file names in `out` (tarballs, .debs, SHA256SUMS, signature). */
  files: string[];
  /** The payload each target got. */
  payloads: Record<string, Payload>;
  /** Bytes of each artifact file, by name. */
  sizes: Record<string, number>;
}

/** What a target's package carries: one compiled binary, or Deno + program + DENO_DIR. */
export type Payload = "compiled" | "runtime";

/** Flags the release binary is compiled with (as the release workflow always had). */
const COMPILE_FLAGS = [
  "--unstable-net",
  "--unstable-kv",
  // /run/systemd/notify: sd_notify (Type=notify); Deno wants read, write and net for it.
  "--allow-read=/etc/siglatch,/var/lib/siglatch,/run/siglatch,/etc/passwd,/etc/group," +
  "/run/systemd/notify",
  "--allow-write=/var/lib/siglatch,/run/siglatch,/run/systemd/notify",
  "--allow-net",
  "--allow-run=setsid,nft,unshare",
  "--allow-env",
  "--allow-sys",
  `--allow-ffi=${LIBC_CANDIDATES.join(",")}`,
  "--v8-flags=--max-semi-space-size=1,--memory-saver-mode",
  "--include",
  "src/daemon/open_worker.ts",
];

async function run(cmd: string, args: string[], cwd = ROOT): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  // deno prints its colours and a backtrace: keep the first line that says what failed.
  // deno-lint-ignore no-control-regex
  const err = new TextDecoder().decode(out.stderr).replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  const why = err.find((l) => /^\s*\d+: error sending/.test(l)) ??
    err.find((l) => /^error/.test(l)) ??
    err.find((l) => l.trim());
  if (!out.success) throw new Error(`${basename(cmd)} ${args[0]}: ${why?.trim()}`);
  return new TextDecoder().decode(out.stdout);
}

async function write(path: string, text: string | Uint8Array, mode = 0o644): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  if (typeof text === "string") await Deno.writeTextFile(path, text);
  else await Deno.writeFile(path, text);
  await Deno.chmod(path, mode);
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(join(from, e.name), join(to, e.name));
    else if (e.isFile) await write(join(to, e.name), await Deno.readFile(join(from, e.name)));
  }
}

/**
 * The `deno run` flags of the `siglatch` task in deno.json (permissions and V8 flags): the
 * packaged launcher runs the program exactly as `deno task siglatch` does.
 */
export async function taskFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const words = String(config.tasks?.siglatch ?? "").split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run" || words.at(-1) !== "main.ts") {
    throw new Error(`deno.json task "siglatch" is not "deno run FLAGS main.ts"`);
  }
  const flags = words.slice(2, -1);
  if (!flags.every((f) => /^--[a-z0-9-]+(=[\w,./=-]+)?$/.test(f))) {
    throw new Error(`deno.json task "siglatch": a flag the launcher cannot quote: ${flags}`);
  }
  return flags;
}

/**
 * The runtime payload's `/usr/bin/siglatch`: the bundled Deno runs the bundled program
 * from the prefilled DENO_DIR, never from the network (`--cached-only`), wherever the tree
 * was unpacked (paths relative to the launcher).
 */
async function launcherScript(target: Target, runtime: Runtime): Promise<string> {
  return `#!/bin/sh
# siglatch ${VERSION} for linux-${target}: the bundled Deno ${runtime.version} runs
# ../lib/siglatch/main.ts with the npm packages in ../lib/siglatch/cache; no Deno, npm or
# network needed (../lib/siglatch/RUNTIME: its origin and sha256). Made by src/release/package.ts.
lib="$(dirname "$(readlink -f "$0")")/../lib/siglatch"
DENO_DIR="$lib/cache"
DENO_NO_UPDATE_CHECK=1
SIGLATCH_LAUNCHER="$(readlink -f "$0")"  # what siglatch demo prints as the command to type
export DENO_DIR DENO_NO_UPDATE_CHECK SIGLATCH_LAUNCHER
exec "$lib/deno" run --cached-only --config "$lib/deno.json" ${(await taskFlags()).join(" ")} \\
  "$lib/main.ts" "$@"
`;
}

/** The unit with the packaged binary's path. */
async function unit(): Promise<string> {
  const text = await Deno.readTextFile(`${ROOT}/config/siglatchd.service`);
  return text.replaceAll("/usr/local/bin/siglatch", "/usr/bin/siglatch");
}

const POSTINST = `#!/bin/sh
# Creates the network part's user and the config directory; the unit is installed but not
# enabled: the config needs keys first (siglatch keygen server /etc/siglatch/keys).
set -e
if [ "$1" = configure ]; then
  if ! getent passwd siglatch >/dev/null; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin siglatch
  fi
  install -d -m 0750 -o root -g siglatch /etc/siglatch
  install -d -m 0700 -o root -g root /etc/siglatch/keys
  if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi
fi
exit 0
`;

const PRERM = `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop siglatchd.service >/dev/null 2>&1 || true
  systemctl disable siglatchd.service >/dev/null 2>&1 || true
fi
# Deno's own caches (transpiled modules, analysis databases) that a run as root wrote
# beside the packaged npm packages; dpkg does not know them, so they go before its files.
cache=/usr/lib/siglatch/cache
rm -rf "$cache/gen" "$cache/node_compat_bin" "$cache"/*_cache_v2* 2>/dev/null || true
exit 0
`;

const POSTRM = `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
exit 0
`;

/** The runtime payload of one target: the staged program, its DENO_DIR and its Deno. */
interface RuntimeParts {
  /** The staged program (main.ts, src/, deno.json, deno.lock). */
  lib: string;
  /** The filled DENO_DIR (npm/ only). */
  denoDir: string;
  /** The target's verified Deno. */
  runtime: Runtime;
}

/** Fills `root` with the installed tree of one target. */
async function stageTree(
  root: string,
  target: Target,
  payload: Payload,
  binary: string,
  parts?: RuntimeParts,
) {
  if (payload === "compiled") {
    await write(`${root}/usr/bin/siglatch`, await Deno.readFile(binary), 0o755);
  } else {
    const lib = `${root}/usr/lib/siglatch`;
    await copyTree(parts!.lib, lib);
    await copyTree(parts!.denoDir, `${lib}/cache`);
    await write(`${lib}/deno`, await Deno.readFile(parts!.runtime.path), 0o755);
    const { npm, integrity, sha256 } = parts!.runtime.pin;
    await write(
      `${lib}/RUNTIME`,
      `deno ${parts!.runtime.version} linux-${target}\nnpm ${npm}@${parts!.runtime.version} ` +
        `${integrity}\nsha256 ${sha256}  deno\n`,
    );
    await write(`${root}/usr/bin/siglatch`, await launcherScript(target, parts!.runtime), 0o755);
  }
  await write(`${root}/lib/systemd/system/siglatchd.service`, await unit());
  const doc = `${root}/usr/share/doc/siglatch`;
  await write(`${doc}/README.md`, await Deno.readFile(`${ROOT}/README.md`));
  for await (const e of Deno.readDir(`${ROOT}/docs`)) {
    if (e.isFile) await write(`${doc}/${e.name}`, await Deno.readFile(`${ROOT}/docs/${e.name}`));
  }
  // The example config with what it includes and its published DEMO keys (private ones
  // 0600), so `siglatch check` passes on it as shipped.
  await write(
    `${doc}/examples/siglatchd.yaml`,
    await Deno.readFile(`${ROOT}/config/siglatchd.yaml`),
  );
  for (const sub of ["conf.d", "example-keys"]) {
    for await (const e of Deno.readDir(`${ROOT}/config/${sub}`)) {
      if (!e.isFile) continue;
      const secret = /\.key$|\.token$/.test(e.name) && !e.name.endsWith(".pub");
      const bytes = await Deno.readFile(`${ROOT}/config/${sub}/${e.name}`);
      await write(`${doc}/examples/${sub}/${e.name}`, bytes, secret ? 0o600 : 0o644);
    }
  }
  const program = buildProgram();
  const date = new Date().toISOString().slice(0, 10);
  for (const [name, text] of manPages(program, VERSION, date)) {
    const path = `${root}/usr/share/man/man1/${name}`;
    await write(path, text);
    await run("gzip", ["-n", "-9", path]);
  }
  await write(`${root}/usr/share/bash-completion/completions/siglatch`, bashCompletion(program));
  await write(`${root}/usr/share/zsh/vendor-completions/_siglatch`, zshCompletion(program));
  await write(`${root}/usr/share/fish/vendor_completions.d/siglatch.fish`, fishCompletion(program));
}

async function installedSize(dir: string): Promise<number> {
  const out = await run("du", ["-sk", "--exclude=DEBIAN", dir]);
  return Number(out.split("\t")[0]);
}

/** Builds the release into `opts.out`. */
export async function buildRelease(opts: ReleaseOptions): Promise<ReleaseResult> {
  const log = opts.log ?? (() => {});
  const targets = opts.targets ?? (Object.keys(TARGETS) as Target[]);
  const mode = opts.payload ?? "auto";
  await Deno.mkdir(opts.out, { recursive: true });
  const work = await Deno.makeTempDir({ prefix: "siglatch-package-" });
  const files: string[] = [];
  const payloads: Record<string, Payload> = {};
  const cache = opts.runtimeCache ?? defaultRuntimeCache();
  let version: string | undefined;
  let shared: Promise<{ lib: string; denoDir: string }> | undefined;
  // The program and its DENO_DIR, made once for every target (the npm packages are pure
  // JS; fillDenoDir refuses any that is not), by the pinned Deno of this machine's arch.
  const sharedParts = async () => {
    const lib = `${work}/program`;
    const denoDir = `${work}/deno_dir`;
    const entries = await stageProgram(ROOT, lib);
    const host = Deno.build.arch as string;
    const deno = host in TARGETS
      ? (await fetchRuntime(host as Target, version!, cache, log)).path
      : Deno.execPath();
    await fillDenoDir(deno, lib, entries, denoDir);
    return { lib, denoDir };
  };
  try {
    for (const target of targets) {
      const { triple, deb } = TARGETS[target];
      let payload: Payload = "runtime";
      const binary = `${work}/siglatch-${triple}`;
      if (mode !== "runtime") {
        try {
          await run(Deno.execPath(), [
            "compile",
            "--target",
            triple,
            ...COMPILE_FLAGS,
            "--output",
            binary,
            "main.ts",
          ]);
          payload = "compiled";
        } catch (err) {
          if (mode === "compile") throw err;
          log(
            `${target}: deno compile failed (${(err as Error).message}); runtime payload instead`,
          );
        }
      }
      payloads[target] = payload;
      let parts: RuntimeParts | undefined;
      if (payload === "runtime") {
        version ??= await pinnedDenoVersion(ROOT);
        shared ??= sharedParts();
        const program = await shared; // before the fetch below: it may fetch the same runtime
        parts = { ...program, runtime: await fetchRuntime(target, version, cache, log) };
      }
      const name = `siglatch-${VERSION}-linux-${target}`;
      const root = `${work}/${name}`;
      await stageTree(root, target, payload, binary, parts);
      // Tarball: the installed tree under one directory (reproducible order, owner, time).
      const tarball = `${name}.tar.gz`;
      await run("tar", [
        "--sort=name",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        "--mtime=@0",
        "-czf",
        join(opts.out, tarball),
        "-C",
        work,
        name,
      ]);
      files.push(tarball);
      // .deb: the same tree plus control files.
      const control = `${root}/DEBIAN`;
      await write(
        `${control}/control`,
        [
          "Package: siglatch",
          `Version: ${VERSION}`,
          `Architecture: ${deb}`,
          "Maintainer: siglatch maintainers <siglatch@users.noreply.github.com>",
          `Installed-Size: ${await installedSize(root)}`,
          "Depends: passwd",
          "Recommends: nftables",
          "Section: net",
          "Priority: optional",
          "Homepage: https://github.com/siglatch/siglatch",
          "Description: single-packet authorization daemon and client",
          " siglatchd keeps ports closed and runs one allowed action (open the firewall for the",
          " sender, run a script) for an authenticated, encrypted UDP packet from a known user.",
          payload === "runtime"
            ? ` It brings its own Deno runtime (${version}) and npm packages in /usr/lib/siglatch.`
            : "",
        ].filter((l) => l !== "").join("\n") + "\n",
      );
      await write(`${control}/postinst`, POSTINST, 0o755);
      await write(`${control}/prerm`, PRERM, 0o755);
      await write(`${control}/postrm`, POSTRM, 0o755);
      const debName = `siglatch_${VERSION}_${deb}.deb`;
      await run("dpkg-deb", [
        "--root-owner-group",
        "-Zgzip",
        "--build",
        root,
        join(opts.out, debName),
      ]);
      files.push(debName);
      await Deno.remove(root, { recursive: true }); // ~100 MB per target with the runtime
      log(`${target}: ${tarball}, ${debName} (${payload})`);
    }
    let sums = "";
    for (const f of files) {
      const bytes = await Deno.readFile(join(opts.out, f));
      const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
      sums += `${hash}  ${f}\n`;
    }
    await write(join(opts.out, "SHA256SUMS"), sums);
    files.push("SHA256SUMS");
    if (opts.signKey) {
      const key = createPrivateKey(await Deno.readTextFile(opts.signKey));
      if (key.asymmetricKeyType !== "ed25519") {
        throw new Error(`${opts.signKey}: not an Ed25519 key`);
      }
      const signature = sign(null, new TextEncoder().encode(sums), key);
      await write(join(opts.out, "SHA256SUMS.sig"), new Uint8Array(signature));
      const pub = createPublicKey(key).export({ type: "spki", format: "pem" }).toString();
      await write(join(opts.out, "SHA256SUMS.pub"), pub);
      files.push("SHA256SUMS.sig", "SHA256SUMS.pub");
    } else {
      log("SHA256SUMS is not signed: pass --sign-key KEY.pem (Ed25519, PKCS#8)");
    }
    const sizes: Record<string, number> = {};
    for (const f of files) sizes[f] = (await Deno.stat(join(opts.out, f))).size;
    return { files, payloads, sizes };
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const args = Deno.args;
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const payload = value("--payload") ?? "auto";
  if (!["compile", "runtime", "auto"].includes(payload)) {
    console.error(`--payload ${payload}: one of compile, runtime, auto`);
    Deno.exit(2);
  }
  const target = value("--target");
  if (target !== undefined && !(target in TARGETS)) {
    console.error(`--target ${target}: one of ${Object.keys(TARGETS).join(", ")}`);
    Deno.exit(2);
  }
  const result = await buildRelease({
    out: value("--out") ?? `${ROOT}/dist`,
    payload: payload as ReleaseOptions["payload"],
    targets: target ? [target as Target] : undefined,
    signKey: value("--sign-key"),
    runtimeCache: value("--runtime-cache"),
    log: (l) => console.error(l),
  });
  for (const [t, p] of Object.entries(result.payloads)) console.error(`${t}: ${p} payload`);
  for (const f of result.files) {
    const size = result.sizes[f];
    console.log(
      `${basename(f)}\t${size < 1e6 ? `${size} bytes` : `${(size / 1e6).toFixed(1)} MB`}`,
    );
  }
}

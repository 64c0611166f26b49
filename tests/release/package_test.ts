/**
 * The packaging script builds the tarballs, the .debs and a signed SHA256SUMS locally;
 * their contents are inspected with dpkg-deb and tar, the checksums with sha256sum, the
 * signature with openssl, the man pages with groff, the bash completion with bash. The
 * x86_64 runtime payload then runs with no Deno, npm or npx on PATH, inside a fresh network
 * namespace with only loopback: --version, keygen, check of the shipped example config, and
 * a daemon answering a real `send ping`; the .deb is unpacked into a throwaway root with its
 * own dpkg database (no maintainer script runs) and its launcher runs there. The aarch64
 * package's Deno is checked to be the pinned aarch64 ELF, and under qemu-aarch64 (user mode,
 * no binfmt) its launcher's command runs `check` offline from the shared DENO_DIR.
 * @module
 */
import assert from "node:assert/strict";
import { buildRelease } from "../../src/release/package.ts";
import { buildProgram } from "../../src/cli/mod.ts";
import "../../src/cli/all.ts";
import { VERSION } from "../../src/version.ts";
import { hasCommand, requireAll, skipUnlessRoot, skipWithout } from "../_helpers/system.ts";
import { runBounded, withNs } from "../_helpers/netns.ts";
import { makeFixture } from "../_helpers/daemon.ts";
import { elfMachine } from "../../src/release/targets.ts";
import { RUNTIMES } from "../../src/release/runtime.ts";

async function sh(cmd: string, args: string[], cwd?: string) {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { ok: out.success, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** Where Debian's libc6-arm64-cross and libgcc-s1-arm64-cross put the aarch64 libraries. */
const AARCH64_LIBS = "/usr/aarch64-linux-gnu";

/** True when the aarch64 loader, libc and libgcc_s are installed for qemu-aarch64. */
function hasAarch64Libs(): boolean {
  return ["lib/ld-linux-aarch64.so.1", "lib/libc.so.6", "lib/libgcc_s.so.1"].every((f) => {
    try {
      return Deno.statSync(`${AARCH64_LIBS}/${f}`).isFile;
    } catch {
      return false;
    }
  });
}

/** The path of `name` on PATH. */
function whichSync(name: string): string {
  for (const d of (Deno.env.get("PATH") ?? "/usr/bin").split(":")) {
    try {
      if (Deno.statSync(`${d}/${name}`).isFile) return `${d}/${name}`;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} not on PATH`);
}

/** A directory of symlinks to just the tools the launcher and the daemon call: no deno/npm/npx. */
async function barePath(dir: string): Promise<string> {
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin);
  for (const tool of ["sh", "dirname", "readlink", "setsid", "nft", "unshare", "id"]) {
    for (const d of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
      try {
        await Deno.symlink(await Deno.realPath(`${d}/${tool}`), `${bin}/${tool}`);
        break;
      } catch {
        // not in this dir
      }
    }
  }
  return bin;
}

/** Runs the packaged launcher in namespace `ns`, environment cleared but for `env`. */
function inNs(ns: string, env: Record<string, string>, argv: string[], timeoutMs = 30_000) {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return runBounded(["ip", "netns", "exec", ns, "env", "-i", ...vars, ...argv], { timeoutMs });
}

/** Starts argv in `ns`; resolves once its output matches `ready`, with a stop function. */
async function spawnInNs(
  ns: string,
  env: Record<string, string>,
  argv: string[],
  ready: RegExp,
): Promise<{ stop(): Promise<Deno.CommandStatus>; output(): string }> {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "env", "-i", ...vars, ...argv],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let wake = () => {};
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      wake();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then((st) => {
    exited = true;
    wake();
    return st;
  });
  const stop = async () => {
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    if (!exited) child.kill("SIGTERM");
    const st = await status;
    clearTimeout(killer);
    await pumps.catch(() => {});
    return st;
  };
  const deadline = Date.now() + 60_000; // a bound on a hang, not a performance assertion
  while (!ready.test(text)) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`no ${ready} from ${argv.join(" ")}:\n${text}`);
    }
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, 500);
    });
  }
  return { stop, output: () => text };
}

Deno.test({
  name: "package: tarballs and .debs for x86_64 and aarch64 with the runtime payload (their own " +
    "Deno, the program, a prefilled DENO_DIR), unit, config, docs, man pages and completions; " +
    "SHA256SUMS and its signature verify; the x86_64 package runs offline without Deno on PATH",
  ignore: skipWithout("dpkg-deb", "dpkg") || skipWithout("openssl", "openssl") ||
    skipWithout("ip", "iproute2") || skipUnlessRoot("packaged offline run"),
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "siglatch-release-" });
    // The network part of `serve` runs as an unprivileged user: it must reach the program.
    await Deno.chmod(dir, 0o755);
    try {
      const key = `${dir}/release.pem`;
      assert.ok((await sh("openssl", ["genpkey", "-algorithm", "ed25519", "-out", key])).ok);
      const out = `${dir}/dist`;
      // deno compile cannot fetch the target runtime (denort) here: the runtime payload.
      const result = await buildRelease({ out, payload: "runtime", signKey: key });
      assert.deepEqual(result.payloads, { x86_64: "runtime", aarch64: "runtime" });
      assert.deepEqual(result.files.sort(), [
        "SHA256SUMS",
        "SHA256SUMS.pub",
        "SHA256SUMS.sig",
        `siglatch-${VERSION}-linux-aarch64.tar.gz`,
        `siglatch-${VERSION}-linux-x86_64.tar.gz`,
        `siglatch_${VERSION}_amd64.deb`,
        `siglatch_${VERSION}_arm64.deb`,
      ]);
      for (const f of result.files) {
        console.log(`  ${f}: ${(result.sizes[f] / 1e6).toFixed(1)} MB (${result.sizes[f]} bytes)`);
      }
      const root = `${dir}/root`;

      await t.step("contents: runtime, DENO_DIR, launcher, unit, docs, man pages", async () => {
        const subcommands = buildProgram().commands.map((c) => c.name());
        const expected = [
          "./usr/bin/siglatch",
          "./usr/lib/siglatch/deno",
          "./usr/lib/siglatch/RUNTIME",
          "./usr/lib/siglatch/main.ts",
          "./usr/lib/siglatch/deno.json",
          "./usr/lib/siglatch/deno.lock",
          "./usr/lib/siglatch/src/cli/mod.ts",
          "./usr/lib/siglatch/src/daemon/open_worker.ts",
          "./usr/lib/siglatch/cache/npm/registry.npmjs.org/zod/",
          "./usr/lib/siglatch/cache/npm/registry.npmjs.org/commander/",
          "./usr/lib/siglatch/cache/npm/registry.npmjs.org/ioredis/",
          "./lib/systemd/system/siglatchd.service",
          "./usr/share/doc/siglatch/examples/siglatchd.yaml",
          "./usr/share/doc/siglatch/examples/conf.d/50-ops.yaml",
          "./usr/share/doc/siglatch/examples/example-keys/server.x25519.key",
          "./usr/share/doc/siglatch/README.md",
          "./usr/share/doc/siglatch/CONFIG.md",
          "./usr/share/doc/siglatch/grafana-dashboard.json",
          "./usr/share/man/man1/siglatch.1.gz",
          ...subcommands.map((s) => `./usr/share/man/man1/siglatch-${s}.1.gz`),
          "./usr/share/bash-completion/completions/siglatch",
          "./usr/share/zsh/vendor-completions/_siglatch",
          "./usr/share/fish/vendor_completions.d/siglatch.fish",
        ];
        for (const [arch, target] of [["amd64", "x86_64"], ["arm64", "aarch64"]]) {
          const deb = `${out}/siglatch_${VERSION}_${arch}.deb`;
          const listing = await sh("dpkg-deb", ["-c", deb]);
          assert.ok(listing.ok, listing.stderr);
          const paths = listing.stdout.split("\n").map((l) => l.split(/\s+/).pop()!);
          for (const p of expected) assert.ok(paths.includes(p), `${arch}: ${p} in the .deb`);
          assert.match(listing.stdout, /-rwxr-xr-x root\/root .* \.\/usr\/bin\/siglatch\n/);
          assert.match(listing.stdout, /-rwxr-xr-x root\/root .* \.\/usr\/lib\/siglatch\/deno\n/);
          // Test-only npm packages stay out of the DENO_DIR.
          assert.doesNotMatch(listing.stdout, /registry\.npmjs\.org\/(playwright-core|fast-check)/);
          const info = await sh("dpkg-deb", ["-f", deb, "Package", "Version", "Architecture"]);
          assert.equal(
            info.stdout,
            `Package: siglatch\nVersion: ${VERSION}\nArchitecture: ${arch}\n`,
          );
          // Installed-Size (KiB) counts the runtime: more than the Deno binary alone.
          const size = Number((await sh("dpkg-deb", ["-f", deb, "Installed-Size"])).stdout);
          const denoBytes = Number(
            listing.stdout.match(/^\S+ root\/root\s+(\d+) .* \.\/usr\/lib\/siglatch\/deno$/m)![1],
          );
          assert.ok(size * 1024 > denoBytes, `${arch}: Installed-Size ${size} KiB`);
          console.log(`  ${arch}: Installed-Size ${(size / 1024).toFixed(1)} MiB`);
          const tar = await sh("tar", [
            "-tzf",
            `${out}/siglatch-${VERSION}-linux-${target}.tar.gz`,
          ]);
          const top = `siglatch-${VERSION}-linux-${target}/`;
          for (const p of expected) assert.ok(tar.stdout.includes(top + p.slice(2)), `tar: ${p}`);
        }

        // The maintainer scripts create the user and the config directory.
        const ctl = `${dir}/ctl`;
        assert.ok((await sh("dpkg-deb", ["-e", `${out}/siglatch_${VERSION}_amd64.deb`, ctl])).ok);
        const postinst = await Deno.readTextFile(`${ctl}/postinst`);
        assert.match(postinst, /useradd --system .* siglatch/);
        assert.match(postinst, /install -d -m 0750 -o root -g siglatch \/etc\/siglatch/);
        for (const script of ["postinst", "prerm", "postrm"]) {
          assert.ok((await sh("sh", ["-n", `${ctl}/${script}`])).ok, script);
        }

        // The unit runs the packaged launcher, as Type=notify.
        assert.ok((await sh("dpkg-deb", ["-x", `${out}/siglatch_${VERSION}_amd64.deb`, root])).ok);
        const unit = await Deno.readTextFile(`${root}/lib/systemd/system/siglatchd.service`);
        assert.match(unit, /^ExecStart=\/usr\/bin\/siglatch serve /m);
        assert.match(unit, /^Type=notify$/m);
        assert.doesNotMatch(unit, /\/usr\/local\/bin/);
        // The launcher: the bundled Deno, cached-only, the task's flags, DENO_DIR set.
        const launcher = await Deno.readTextFile(`${root}/usr/bin/siglatch`);
        assert.match(launcher, /^exec "\$lib\/deno" run --cached-only /m);
        assert.match(
          launcher,
          /--allow-ffi --v8-flags=--max-semi-space-size=1,--memory-saver-mode/,
        );
        assert.match(launcher, /^DENO_DIR="\$lib\/cache"$/m);
        assert.match(launcher, /^DENO_NO_UPDATE_CHECK=1$/m);
        assert.match(launcher, /^export DENO_DIR DENO_NO_UPDATE_CHECK SIGLATCH_LAUNCHER$/m);
      });

      await t.step("the bundled Deno of each target is the pinned one, of its CPU", async () => {
        const pins = RUNTIMES[Deno.version.deno] ?? Object.values(RUNTIMES)[0];
        for (const [target, machine] of [["x86_64", 62], ["aarch64", 183]] as const) {
          const r = `${dir}/tar-${target}`;
          await Deno.mkdir(r);
          const x = await sh("tar", [
            "-xzf",
            `${out}/siglatch-${VERSION}-linux-${target}.tar.gz`,
            "-C",
            r,
            `siglatch-${VERSION}-linux-${target}/usr/lib/siglatch/deno`,
          ]);
          assert.ok(x.ok, x.stderr);
          const bin = await Deno.readFile(
            `${r}/siglatch-${VERSION}-linux-${target}/usr/lib/siglatch/deno`,
          );
          assert.equal(elfMachine(bin.subarray(0, 20)), machine, `${target}: ELF e_machine`);
          const sha = new Uint8Array(await crypto.subtle.digest("SHA-256", bin)).toHex();
          assert.equal(sha, pins[target].sha256, `${target}: sha256 of the bundled deno`);
          await Deno.remove(r, { recursive: true });
        }
      });

      await t.step("x86_64 tarball runs offline: no deno/npm/npx, only loopback", async () => {
        const tree = `${dir}/tarroot`;
        await Deno.mkdir(tree);
        await Deno.chmod(tree, 0o755);
        const x = await sh("tar", [
          "-xzf",
          `${out}/siglatch-${VERSION}-linux-x86_64.tar.gz`,
          "-C",
          tree,
          "--strip-components=1",
        ]);
        assert.ok(x.ok, x.stderr);
        const siglatch = `${tree}/usr/bin/siglatch`;
        const bin = await barePath(dir);
        const home = `${dir}/home`;
        await Deno.mkdir(home);
        const env = { PATH: bin, HOME: home, NO_COLOR: "1" };
        await withNs(async (ns) => {
          assert.equal((await runBounded(["ip", "-n", ns, "link", "set", "lo", "up"])).code, 0);
          // Nothing but loopback: no route leaves this namespace.
          const links = await runBounded(["ip", "-n", ns, "-o", "link"]);
          assert.deepEqual(links.stdout.trim().split("\n").map((l) => l.split(":")[1].trim()), [
            "lo",
          ]);
          const routes = await runBounded(["ip", "-n", ns, "route", "show", "default"]);
          assert.equal(routes.stdout.trim(), "");
          const none = await inNs(ns, env, [
            `${bin}/sh`,
            "-c",
            "command -v deno || command -v npm || command -v npx || echo none",
          ]);
          assert.equal(none.stdout.trim(), "none", "no deno, npm or npx on PATH");

          const version = await inNs(ns, env, [siglatch, "--version"]);
          assert.equal(version.code, 0, version.stderr);
          assert.equal(version.stdout.trim(), VERSION);
          const long = await inNs(ns, env, [siglatch, "version"]);
          assert.match(long.stdout, new RegExp(`deno ${Deno.version.deno.replaceAll(".", "\\.")}`));

          const keys = `${dir}/keys`;
          const keygen = await inNs(ns, env, [siglatch, "keygen", "server", keys]);
          assert.equal(keygen.code, 0, keygen.stderr + keygen.stdout);
          const made = [...Deno.readDirSync(keys)].map((e) => e.name).sort();
          assert.ok(made.includes("server.x25519.pem"), `keygen made ${made}`);
          assert.equal(Deno.statSync(`${keys}/server.x25519.pem`).mode! & 0o777, 0o600);

          const example = `${tree}/usr/share/doc/siglatch/examples/siglatchd.yaml`;
          const check = await inNs(ns, env, [siglatch, "check", example]);
          assert.equal(check.code, 0, check.stdout + check.stderr);
          assert.match(check.stdout + check.stderr, /OK \(0 errors/);

          // A demo-style daemon (loopback, builtin actions) answers a real ping.
          const fx = await makeFixture();
          try {
            const daemon = await spawnInNs(ns, env, [
              siglatch,
              "serve",
              "--config",
              fx.config,
            ], /siglatchd ready/);
            let logs = "";
            try {
              const ping = await inNs(ns, env, [siglatch, "send", "--profile", fx.profile, "ping"]);
              assert.equal(ping.code, 0, ping.stderr);
              assert.equal(ping.stdout.trim(), "pong");
            } finally {
              const st = await daemon.stop();
              logs = daemon.output();
              assert.equal(st.code, 0, logs);
            }
            assert.match(logs, /network part started as/);
          } finally {
            await fx.cleanup();
          }
        });
      });

      // The aarch64 Deno cannot run natively here; under qemu-user (no binfmt: the launcher's
      // exec line gets a qemu-aarch64 prefix) it runs the shipped launcher's command with the
      // shared DENO_DIR, offline, which proves one npm cache serves both targets.
      await t.step({
        name: "aarch64 tarball runs check offline under qemu-aarch64 (shared DENO_DIR)",
        ignore: skipWithout("qemu-aarch64", "qemu-user") ||
          (!hasAarch64Libs() && !requireAll &&
            (console.log("SKIP: apt-get install libc6-arm64-cross libgcc-s1-arm64-cross"), true)),
        fn: async () => {
          const tree = `${dir}/arm-root`;
          await Deno.mkdir(tree);
          const x = await sh("tar", [
            "-xzf",
            `${out}/siglatch-${VERSION}-linux-aarch64.tar.gz`,
            "-C",
            tree,
            "--strip-components=1",
          ]);
          assert.ok(x.ok, x.stderr);
          const launcher = await Deno.readTextFile(`${tree}/usr/bin/siglatch`);
          const emulated = launcher.replace(
            /^exec "\$lib\/deno"/m,
            'exec qemu-aarch64 "$lib/deno"',
          );
          assert.notEqual(emulated, launcher);
          await Deno.writeTextFile(`${tree}/usr/bin/siglatch-qemu`, emulated, { mode: 0o755 });
          const bin = `${dir}/bin`;
          await Deno.symlink(await Deno.realPath(whichSync("qemu-aarch64")), `${bin}/qemu-aarch64`);
          await withNs(async (ns) => {
            const env = { PATH: bin, HOME: `${dir}/home`, QEMU_LD_PREFIX: AARCH64_LIBS };
            const example = `${tree}/usr/share/doc/siglatch/examples/siglatchd.yaml`;
            const check = await inNs(
              ns,
              env,
              [`${tree}/usr/bin/siglatch-qemu`, "check", example],
              300_000,
            );
            assert.equal(check.code, 0, check.stdout + check.stderr);
            assert.match(check.stdout, /siglatchd\.yaml: OK \(0 errors/);
          });
        },
      });

      await t.step(".deb unpacked into a throwaway root (own dpkg database) runs", async () => {
        const r = `${dir}/debroot`;
        await Deno.mkdir(`${r}/var/lib/dpkg/info`, { recursive: true });
        await Deno.mkdir(`${r}/var/lib/dpkg/updates`);
        await Deno.writeTextFile(`${r}/var/lib/dpkg/status`, "");
        await Deno.chmod(r, 0o755);
        // --unpack runs no maintainer script (the package has no preinst); --root keeps
        // files and database inside r.
        const unpack = await sh("dpkg", [
          `--root=${r}`,
          "--force-not-root",
          "--unpack",
          `${out}/siglatch_${VERSION}_amd64.deb`,
        ]);
        assert.ok(unpack.ok, unpack.stdout + unpack.stderr);
        const status = await Deno.readTextFile(`${r}/var/lib/dpkg/status`);
        assert.match(status, /^Package: siglatch\nStatus: install ok unpacked$/m);
        const verify = await sh("dpkg", [`--root=${r}`, "--verify", "siglatch"]);
        assert.ok(verify.ok && verify.stdout === "", verify.stdout + verify.stderr);
        const bin = `${dir}/bin`;
        await withNs(async (ns) => {
          const version = await inNs(ns, { PATH: bin, HOME: `${dir}/home` }, [
            `${r}/usr/bin/siglatch`,
            "version",
          ]);
          assert.equal(version.code, 0, version.stderr);
          assert.match(version.stdout, new RegExp(`^siglatch ${VERSION.replaceAll(".", "\\.")} `));
        });
      });

      await t.step("checksums, signature, man pages, completions", async () => {
        // Checksums and signature.
        const sums = await sh("sha256sum", ["-c", "SHA256SUMS"], out);
        assert.ok(sums.ok, sums.stdout + sums.stderr);
        assert.equal(sums.stdout.trim().split("\n").length, 4);
        const verify = (file: string) =>
          sh("openssl", [
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            `${out}/SHA256SUMS.pub`,
            "-rawin",
            "-in",
            file,
            "-sigfile",
            `${out}/SHA256SUMS.sig`,
          ]);
        assert.ok((await verify(`${out}/SHA256SUMS`)).ok, "signature verifies");
        const tampered = `${dir}/SHA256SUMS.tampered`;
        await Deno.writeTextFile(
          tampered,
          (await Deno.readTextFile(`${out}/SHA256SUMS`)).replace(
            /^./,
            (c) => c === "0" ? "1" : "0",
          ),
        );
        assert.ok(!(await verify(tampered)).ok, "a changed SHA256SUMS does not verify");

        // Man pages: groff reads them without a warning; hidden flags stay hidden.
        if (hasCommand("groff")) {
          for (const page of ["siglatch.1.gz", "siglatch-serve.1.gz", "siglatch-admin.1.gz"]) {
            const text = (await sh("gzip", ["-dc", `${root}/usr/share/man/man1/${page}`])).stdout;
            await Deno.writeTextFile(`${dir}/page.1`, text);
            const g = await sh("groff", ["-man", "-Tutf8", "-ww", "-z", `${dir}/page.1`]);
            assert.ok(g.ok && g.stderr === "", `${page}: ${g.stderr}`);
            if (page === "siglatch-serve.1.gz") {
              assert.match(text, /\\-\\-config/);
              assert.doesNotMatch(text, /network\\-part/);
            }
          }
        }
        // The bash completion completes subcommands and a subcommand's options.
        const completion = `${root}/usr/share/bash-completion/completions/siglatch`;
        const complete = (words: string) =>
          sh("bash", [
            "-c",
            `source '${completion}'; COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); ` +
            `_siglatch; printf '%s\\n' "\${COMPREPLY[@]}"`,
          ]);
        assert.deepEqual((await complete("siglatch se")).stdout.trim().split("\n").sort(), [
          "send",
          "serve",
          "session",
        ]);
        assert.match((await complete("siglatch serve --")).stdout, /^--config$/m);
        assert.match(
          await Deno.readTextFile(`${root}/usr/share/zsh/vendor-completions/_siglatch`),
          /^#compdef siglatch/,
        );
        assert.match(
          await Deno.readTextFile(`${root}/usr/share/fish/vendor_completions.d/siglatch.fish`),
          /-a serve -d /,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

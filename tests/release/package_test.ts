/**
 * The packaging script builds the tarballs, the .debs and a signed SHA256SUMS locally;
 * their contents are inspected with dpkg-deb and tar, the checksums with sha256sum, the
 * signature with openssl, the man pages with groff, the bash completion with bash, and the
 * packaged launcher runs.
 * @module
 */
import assert from "node:assert/strict";
import { buildRelease } from "../../src/release/package.ts";
import { buildProgram } from "../../src/cli/mod.ts";
import "../../src/cli/all.ts";
import { VERSION } from "../../src/version.ts";
import { hasCommand, skipWithout } from "../_helpers/system.ts";

async function sh(cmd: string, args: string[], cwd?: string) {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { ok: out.success, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test({
  name: "package: tarballs and .debs for x86_64 and aarch64 with binary, unit, config, docs, " +
    "man pages and completions; SHA256SUMS verifies and its Ed25519 signature too",
  ignore: skipWithout("dpkg-deb", "dpkg") || skipWithout("openssl", "openssl"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "siglatch-release-" });
    try {
      const key = `${dir}/release.pem`;
      assert.ok((await sh("openssl", ["genpkey", "-algorithm", "ed25519", "-out", key])).ok);
      const out = `${dir}/dist`;
      // Offline here: deno compile cannot fetch the target runtime, so the source payload.
      const result = await buildRelease({ out, payload: "source", signKey: key });
      assert.deepEqual(result.files.sort(), [
        "SHA256SUMS",
        "SHA256SUMS.pub",
        "SHA256SUMS.sig",
        `siglatch-${VERSION}-linux-aarch64.tar.gz`,
        `siglatch-${VERSION}-linux-x86_64.tar.gz`,
        `siglatch_${VERSION}_amd64.deb`,
        `siglatch_${VERSION}_arm64.deb`,
      ]);

      const subcommands = buildProgram().commands.map((c) => c.name());
      const expected = [
        "./usr/bin/siglatch",
        "./lib/systemd/system/siglatchd.service",
        "./usr/share/doc/siglatch/examples/siglatchd.yaml",
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
        const info = await sh("dpkg-deb", ["-f", deb, "Package", "Version", "Architecture"]);
        assert.equal(
          info.stdout,
          `Package: siglatch\nVersion: ${VERSION}\nArchitecture: ${arch}\n`,
        );
        const tar = await sh("tar", ["-tzf", `${out}/siglatch-${VERSION}-linux-${target}.tar.gz`]);
        const top = `siglatch-${VERSION}-linux-${target}/`;
        for (const p of expected) assert.ok(tar.stdout.includes(top + p.slice(2)), `tar: ${p}`);
      }

      // The maintainer scripts create the user and the config directory.
      const ctl = `${dir}/ctl`;
      assert.ok((await sh("dpkg-deb", ["-e", `${out}/siglatch_${VERSION}_amd64.deb`, ctl])).ok);
      const postinst = await Deno.readTextFile(`${ctl}/postinst`);
      assert.match(postinst, /useradd --system .* siglatch/);
      assert.match(postinst, /install -d -m 0750 -o root -g siglatch \/etc\/siglatch/);
      assert.ok((await sh("sh", ["-n", `${ctl}/postinst`])).ok);

      // The unit runs the packaged binary, as Type=notify.
      const root = `${dir}/root`;
      assert.ok((await sh("dpkg-deb", ["-x", `${out}/siglatch_${VERSION}_amd64.deb`, root])).ok);
      const unit = await Deno.readTextFile(`${root}/lib/systemd/system/siglatchd.service`);
      assert.match(unit, /^ExecStart=\/usr\/bin\/siglatch serve /m);
      assert.match(unit, /^Type=notify$/m);
      assert.doesNotMatch(unit, /\/usr\/local\/bin/);
      // The packaged launcher runs.
      const version = await sh(`${root}/usr/bin/siglatch`, ["version"]);
      assert.ok(version.ok, version.stderr);
      assert.match(version.stdout, new RegExp(`^siglatch ${VERSION.replaceAll(".", "\\.")} `));

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
        (await Deno.readTextFile(`${out}/SHA256SUMS`)).replace(/^./, (c) => c === "0" ? "1" : "0"),
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
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/**
 * The README's test command on a fresh machine: Deno only in npm's cache under /root (0700),
 * run as root. Tests that need another uid must still run Deno (see `_helpers/as_user.ts`).
 * @module
 */
import assert from "node:assert/strict";
import { NOBODY, runDenoAs } from "./_helpers/as_user.ts";
import { skipUnlessRoot } from "./_helpers/system.ts";

Deno.test("a Deno binary only root can reach still runs as nobody through runDenoAs", {
  ignore: skipUnlessRoot("switching users"),
}, async () => {
  const hidden = await Deno.makeTempDir({ prefix: "siglatch-root-only-" });
  try {
    await Deno.chmod(hidden, 0o700);
    const bin = `${hidden}/deno`;
    await Deno.copyFile(Deno.execPath(), bin);
    await Deno.chmod(bin, 0o700);
    // What the tests used to do: spawn the binary directly as nobody. It cannot.
    await assert.rejects(
      async () =>
        await new Deno.Command(bin, { args: ["--version"], ...NOBODY, stdout: "null" }).output(),
      Deno.errors.PermissionDenied,
    );
    const r = await runDenoAs(NOBODY, ["eval", "console.log(Deno.uid(), Deno.gid())"], {
      deno: bin,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "65534 65534");
    assert.equal((await Deno.stat(bin)).mode! & 0o777, 0o700, "the original is left alone");
  } finally {
    await Deno.remove(hidden, { recursive: true });
  }
});

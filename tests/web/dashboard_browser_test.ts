/**
 * Runs the Chromium dashboard test (`_dashboard_browser.ts`) in its own `deno test -A`:
 * playwright-core checks /proc/sys/fs/binfmt_misc/WSLInterop when it loads, a path Deno
 * lets only an --allow-all process touch, and the suite runs with narrower flags.
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "../_helpers/daemon.ts";
import { skipWithout } from "../_helpers/system.ts";

Deno.test({
  name:
    "dashboard in Chromium: wrong token refused, log in, a ping appears live, a ban is listed, an enrollment approved",
  ignore: skipWithout("chromium", "chromium"),
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", `${ROOT}/tests/web/_dashboard_browser.ts`],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, text);
    assert.match(text, /ok \| 1 passed \| 0 failed/);
  },
});

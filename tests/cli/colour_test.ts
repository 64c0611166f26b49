import assert from "node:assert/strict";
import { colourWanted, paint } from "../../src/cli/colour.ts";
import { formatMessages } from "../../src/cli/messages.ts";
import { makeFixture, ROOT, startDaemon } from "../_helpers/daemon.ts";
import { spawnPty } from "../admin/_pty.ts";
import { RUN_FLAGS } from "../_helpers/flags.ts";
import { skipWithout } from "../_helpers/system.ts";

Deno.test("colour: only on a terminal, never with a non-empty NO_COLOR or TERM=dumb", () => {
  assert.equal(colourWanted({ tty: true }), true);
  assert.equal(colourWanted({ tty: true, noColor: "" }), true, "an empty NO_COLOR is unset");
  assert.equal(colourWanted({ tty: true, noColor: "1" }), false);
  assert.equal(colourWanted({ tty: true, term: "dumb" }), false);
  assert.equal(colourWanted({ tty: false }), false);
  assert.equal(paint("x", "red", false), "x");
  assert.equal(paint("x", "red", true), "\x1b[31mx\x1b[0m");
  assert.deepEqual(formatMessages([{ level: "warning", text: "hi" }], true), [
    "\x1b[33m[warning]\x1b[0m hi",
  ]);
});

Deno.test({
  name: "colour: `siglatch messages` on a real terminal is coloured, with NO_COLOR=1 it is not",
  ignore: skipWithout("script", "bsdutils"),
  async fn() {
    const fx = await makeFixture({
      aliceActions: ["messages"],
      actions: [{ id: 10, name: "messages", type: "builtin", builtin: "messages" }],
      top: { messages: [{ level: "warning", text: "disk almost full" }] },
    });
    const d = await startDaemon(fx.config);
    try {
      const argv = [Deno.execPath(), ...RUN_FLAGS, `${ROOT}/main.ts`, "messages", fx.profile];
      for (const [noColor, coloured] of [["", true], ["1", false]] as const) {
        const pty = spawnPty(argv, { NO_COLOR: noColor });
        await pty.waitFor(/disk almost full/);
        assert.equal(await pty.close(), 0);
        const text = pty.output();
        assert.equal(text.includes("\x1b[33m[warning]\x1b[0m disk almost full"), coloured, text);
        if (!coloured) assert.ok(!text.includes("\x1b[33m"), text);
      }
    } finally {
      await d.stop();
      await fx.cleanup();
    }
  },
});

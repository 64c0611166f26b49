/**
 * Progress bars for long client work, on a real terminal (util-linux `script`) against a
 * real daemon: `enroll` waiting for approval, `send --file` sending fragments, `send
 * --follow` with an action's progress lines; and plain lines (no escape sequences) when
 * stderr is not a terminal.
 * @module
 */
import assert from "node:assert/strict";
import { makeFixture, ROOT, runCli, startDaemon } from "../_helpers/daemon.ts";
import { createApprovalInvite } from "../_helpers/invite.ts";
import { spawnPty } from "../admin/_pty.ts";
import { RUN_FLAGS } from "../_helpers/flags.ts";
import { skipWithout } from "../_helpers/system.ts";
import { MAX_REQUEST_PAYLOAD } from "../../src/client/payload_file.ts";

const cli = (...args: string[]) => [Deno.execPath(), ...RUN_FLAGS, `${ROOT}/main.ts`, ...args];
/** A bar as ProgressView draws it: back to column 0, clear the line, `[###---] pct% n/m`. */
const BAR = String.raw`\r\x1b\[2K\[[#-]{30}\] +\d{1,3}% `;

Deno.test({
  name: "progress: enroll waiting for approval draws a bar on a terminal until approved",
  ignore: skipWithout("script", "bsdutils"),
  async fn() {
    const fx = await makeFixture();
    const d = await startDaemon(fx.config);
    try {
      const { invite, id } = await createApprovalInvite(fx.config, "guest7");
      const pty = spawnPty(
        cli("enroll", invite, "--out", `${fx.dir}/g7.yaml`, "--poll", "200ms", "--wait", "60s"),
      );
      await pty.waitFor(new RegExp(`${BAR}\\d+/60 s waiting for approval`), 30_000);
      const approved = await runCli(["admin", "--config", fx.config, "approve", String(id)]);
      assert.equal(approved.code, 0, approved.stderr);
      await pty.waitFor(/enrolled as guest7/, 30_000);
      assert.equal(await pty.close(), 0, pty.output());
      const text = pty.output();
      assert.match(text, /pending: waiting for the operator/);
      // The bar's line is ended before the result is printed.
      assert.match(text, /waiting for approval\r?\n(?:[^\n]*\n)?enrolled as guest7/, text);
    } finally {
      await d.stop();
      await fx.cleanup();
    }
  },
});

Deno.test({
  name:
    "progress: send --file shows fragments sent (a bar on a terminal, a plain line per pass otherwise)",
  ignore: skipWithout("script", "bsdutils"),
  async fn() {
    const fx = await makeFixture({
      scripts: { "sum.sh": "wc -c" },
      actions: [
        { id: 10, name: "sum", type: "exec", command: ["$DIR/sum.sh"], max_payload: 65536 },
      ],
      aliceActions: ["sum"],
    });
    const d = await startDaemon(fx.config);
    try {
      await Deno.writeFile(`${fx.dir}/big.bin`, new Uint8Array(MAX_REQUEST_PAYLOAD).fill(7));
      const args = ["send", "-p", fx.profile, "sum", "--file", `${fx.dir}/big.bin`];
      const pty = spawnPty(cli(...args, "--timeout", "5s"));
      await pty.waitFor(/65536/, 30_000);
      assert.equal(await pty.close(), 0, pty.output());
      const text = pty.output();
      const bars = [...text.matchAll(new RegExp(`${BAR}(\\d+)/(\\d+) fragments sent`, "g"))];
      assert.ok(bars.length > 10, `a bar redrawn per fragment: ${JSON.stringify(text)}`);
      const total = bars[0][2];
      assert.equal(bars.at(-1)![1], total, "the last drawing is complete");
      assert.match(text, new RegExp(`\\[#{30}\\] 100% ${total}/${total} fragments sent\\r?\\n`));

      const piped = await runCli([...args, "--timeout", "5s"]);
      assert.equal(piped.code, 0, piped.stderr);
      assert.equal(piped.stdout.trim(), "65536");
      // One plain line per pass over the fragments (a cookie reply or a retry sends again).
      assert.match(piped.stderr, new RegExp(`^(progress ${total}/${total} fragments sent\n)+$`));
      // One datagram: no progress at all.
      await Deno.writeFile(`${fx.dir}/small.bin`, new Uint8Array(10));
      const small = await runCli([
        "send",
        "-p",
        fx.profile,
        "sum",
        "--file",
        `${fx.dir}/small.bin`,
      ]);
      assert.equal(small.code, 0, small.stderr);
      assert.equal(small.stderr, "");
    } finally {
      await d.stop();
      await fx.cleanup();
    }
  },
});

Deno.test({
  name: "progress: send --follow turns an action's progress lines into a bar on a terminal",
  ignore: skipWithout("script", "bsdutils"),
  async fn() {
    const fx = await makeFixture({
      scripts: {
        "work.sh": 'printf "SIGLATCH-PROGRESS 1/2 step one\\n"; sleep 0.3; ' +
          'printf "SIGLATCH-PROGRESS 2/2 step two\\nresult\\n"',
      },
      actions: [{ id: 10, name: "work", type: "exec", command: ["$DIR/work.sh"] }],
      aliceActions: ["work"],
    });
    const d = await startDaemon(fx.config);
    try {
      const pty = spawnPty(cli("send", "-p", fx.profile, "work", "--follow"));
      await pty.waitFor(/result/, 30_000);
      assert.equal(await pty.close(), 0, pty.output());
      const text = pty.output();
      const bar = (n: number) => `\r\x1b[2K[${"#".repeat(n)}${"-".repeat(30 - n)}]`;
      assert.ok(text.includes(`${bar(15)}  50% 1/2 step one`), JSON.stringify(text));
      assert.ok(text.includes(`${bar(30)} 100% 2/2 step two`), JSON.stringify(text));
      assert.doesNotMatch(text, /SIGLATCH-PROGRESS/);
    } finally {
      await d.stop();
      await fx.cleanup();
    }
  },
});

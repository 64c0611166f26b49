/** `send --follow` prints stdout and stderr in the order the action wrote them. */
import assert from "node:assert/strict";
import { makeFixture, ROOT, RUN_FLAGS, startDaemon } from "../_helpers/daemon.ts";

Deno.test("send --follow: lines alternating between stdout and stderr arrive in order", async () => {
  const fx = await makeFixture({
    scripts: {
      // 20 ms between writes: the order in which the daemon reads them is well defined, and
      // the first lines fall within the 50 ms the daemon holds output before the first event
      // (where stdout used to be cut before stderr, whatever the order: so stderr goes first).
      "alt.sh": 'i=1; while [ $i -le 8 ]; do echo "err $i" >&2; sleep 0.02; echo "out $i"; ' +
        "sleep 0.02; i=$((i+1)); done; echo done",
    },
    actions: [{ id: 10, name: "alt", type: "exec", command: ["$DIR/alt.sh"] }],
    aliceActions: ["alt"],
  });
  const d = await startDaemon(fx.config);
  try {
    // The client's stdout and stderr into one pipe: its relative order is what a person sees.
    const out = await new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'exec "$0" "$@" 2>&1',
        Deno.execPath(),
        ...RUN_FLAGS,
        `${ROOT}/main.ts`,
        "send",
        "-p",
        fx.profile,
        "alt",
        "--follow",
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text);
    const lines = text.split("\n").filter((l) => /^(out|err) \d+$|^done$/.test(l));
    const want: string[] = [];
    for (let i = 1; i <= 8; i++) want.push(`err ${i}`, `out ${i}`);
    assert.deepEqual(lines, [...want, "done"], text);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

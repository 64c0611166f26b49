/**
 * A process that holds a TimerManager over a Deno KV store, for crash (kill -9) tests.
 *
 * Usage: `deno run -A _timer_child.ts STATE_DIR OUT_FILE arm|resume [DELAY_MS] [SLEEP_S]`.
 * `arm` arms key `k` with a destructor that appends "ran attempt=N reason=R" to OUT_FILE
 * (after sleeping SLEEP_S seconds when given), due in DELAY_MS; `resume` only loads the
 * stored timers. Prints "ready" once set up, "done" after each destructor, then stays up.
 * @module
 */
import { KvStateStore } from "../../src/state/kv.ts";
import { TimerManager } from "../../src/actions/timers.ts";
import { destructorRunner } from "../../src/actions/sessions.ts";

const [dir, out, mode, delay = "1500", sleep = "0"] = Deno.args;
const store = await KvStateStore.open(dir);
const timers = new TimerManager(store, destructorRunner(undefined), {
  onDone: () => console.log("done"),
});
await timers.start();
if (mode === "arm") {
  await timers.arm("k", {
    exec: {
      argv: [
        "/bin/sh",
        "-c",
        `sleep ${Number(sleep)}; echo "ran attempt=$SIGLATCH_DESTRUCTOR_ATTEMPT ` +
        `reason=$SIGLATCH_DESTRUCTOR_REASON user=$SIGLATCH_USER at=$(date +%s%3N)" >> "$OUT"`,
      ],
      env: { SIGLATCH_USER: "alice", OUT: out },
      timeoutMs: 20_000,
      outputCap: 1024,
    },
  }, { deadline: Date.now() + Number(delay) });
}
console.log("ready");
setInterval(() => {}, 60_000);

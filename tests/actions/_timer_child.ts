/**
 * A process that holds a TimerManager over a Deno KV store, for crash (kill -9) tests.
 *
 * Usage: `deno run -A _timer_child.ts STATE_DIR OUT_FILE arm|resume [DELAY_MS] [SLEEP_S]`.
 * Its "config" (the catalog every start gets, as a daemon gets its config file) has exec
 * action 7 `session` whose destructor appends "ran attempt=N reason=R user=U" to OUT_FILE
 * (after sleeping SLEEP_S seconds) and user 1 `alice`. `arm` arms a session of alice on
 * action 7 from 192.0.2.1, due in DELAY_MS; `resume` only loads the stored timers (the
 * record names the action; the command comes from the catalog). Prints "ready" once set up,
 * "done" after each destructor, then stays up.
 * @module
 */
import { KvStateStore } from "../../src/state/kv.ts";
import { TimerManager } from "../../src/actions/timers.ts";
import { destructorRunner, type SessionCatalog } from "../../src/actions/sessions.ts";

const [dir, out, mode, delay = "1500", sleep = "0"] = Deno.args;
const catalog: SessionCatalog = {
  actions: new Map([[7, {
    config: {
      id: 7,
      name: "session",
      type: "exec",
      command: ["/bin/true"],
      keepalive: 1000,
      destructor: [
        "/bin/sh",
        "-c",
        `sleep ${Number(sleep)}; echo "ran attempt=$SIGLATCH_DESTRUCTOR_ATTEMPT ` +
        `reason=$SIGLATCH_DESTRUCTOR_REASON user=$SIGLATCH_USER at=$(date +%s%3N)" >> "$0"`,
        out,
      ],
      timeout: 20_000,
      output_cap: 1024,
    },
  }]]),
  users: new Map([[1, { config: { id: 1, name: "alice" } }]]),
};
const store = await KvStateStore.open(dir);
const timers = new TimerManager(store, destructorRunner(undefined, () => catalog, store.audit), {
  onDone: () => console.log("done"),
});
await timers.start();
if (mode === "arm") {
  await timers.arm(
    { actionId: 7, action: "session", kind: "exec", userId: 1, source: "192.0.2.1" },
    { deadline: Date.now() + Number(delay) },
  );
}
console.log("ready");
setInterval(() => {}, 60_000);

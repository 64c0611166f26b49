/**
 * Session throughput sender (issue 15): opens one session per lane (`--sources`, one socket
 * and address each; one X25519 per lane, before timing), prints `ready`, waits for a stdin
 * line, then every lane runs the builtin ping as session commands in a closed loop (the next
 * command when the previous result arrived, or after `--timeout` ms) for `--seconds`. Prints
 * one JSON line ({@linkcode BlastReport}; `sealPerSecond` is 0: nothing is sealed ahead).
 * @module
 */
import { ClientSession } from "../../src/client/session.ts";
import { blastReport, expandAddresses, numFlag, parseFlags, readyAndWait } from "./common.ts";
import { readTarget, targetRequest } from "./target.ts";

const flags = parseFlags(Deno.args);
const target = await readTarget(flags.get("target") ?? "");
const seconds = Math.min(numFlag(flags, "seconds", 5), 60);
const timeoutMs = numFlag(flags, "timeout", 300);
const sources = expandAddresses(flags.get("sources") ?? "127.0.2.1-127.0.2.64");

const sessions = await Promise.all(sources.map(async (bind) => {
  const o = await ClientSession.open(targetRequest(target, bind, { timeoutMs, retries: 3 }));
  if (!o.ok) throw new Error(`session from ${bind} did not open: ${JSON.stringify(o.result)}`);
  return o.session;
}));

const latencies: number[] = [];
let sent = 0;
let ok = 0;
let lost = 0;
const payload = new Uint8Array();

async function lane(s: ClientSession, end: number): Promise<void> {
  while (performance.now() < end) {
    const t = performance.now();
    sent++;
    const r = await s.run(target.actionId, payload);
    if (r.answered && r.status === 0) {
      ok++;
      latencies.push(performance.now() - t);
    } else lost++;
  }
}

// A command without a result in `--timeout` ms is sent again (same number, up to 3 times); one
// that never got one counts as lost.
await readyAndWait();
const t0 = performance.now();
const end = t0 + seconds * 1000;
await Promise.all(sessions.map((s) => lane(s, end)));
const elapsed = (performance.now() - t0) / 1000;
await Promise.all(sessions.map((s) => s.close()));
console.log(JSON.stringify(blastReport({ sent, ok, lost }, latencies, elapsed, 0)));

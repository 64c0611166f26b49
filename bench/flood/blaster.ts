/**
 * Valid-throughput sender: seals `--count` distinct ping requests (fresh ephemeral key and
 * nonce each) BEFORE timing, then keeps `--lanes` requests in flight, one per socket (each
 * bound to its own address of `--sources`), for at most `--seconds`: a lane sends its
 * next request when the reply to the previous one arrived (opened and checked with that
 * request's reply key) or after `--timeout` ms. Prints `ready` once sealed, waits for a
 * stdin line, runs, prints one JSON line (see {@linkcode BlastReport}).
 * @module
 */
import { type SealedRequest, sealRequest } from "../../src/wire/mod.ts";
import { blastReport, expandAddresses, numFlag, parseFlags, readyAndWait } from "./common.ts";
import { readTarget } from "./target.ts";

/** What the blaster prints. */
export interface BlastReport {
  /** Requests sent. */
  sent: number;
  /** Replies that opened with the request's key and said ok. */
  ok: number;
  /** Requests without a (valid) reply within the timeout. */
  lost: number;
  /** From go to the last lane finishing, s. */
  seconds: number;
  /** ok / seconds. */
  okPerSecond: number;
  /** Reply latency of ok requests, ms. */
  p50Ms: number;
  /** 99th percentile, ms. */
  p99Ms: number;
  /** Sealing rate before timing (seals/s, this process). */
  sealPerSecond: number;
}

const flags = parseFlags(Deno.args);
const target = await readTarget(flags.get("target") ?? "");
const count = Math.min(numFlag(flags, "count", 20_000), 500_000);
const seconds = Math.min(numFlag(flags, "seconds", 5), 60);
const timeoutMs = numFlag(flags, "timeout", 300);
const sources = expandAddresses(flags.get("sources") ?? "127.0.2.1-127.0.2.64");

const s0 = performance.now();
const sealed: SealedRequest[] = [];
for (let i = 0; i < count; i++) {
  sealed.push(sealRequest(target.serverPublic, { kind: "hmac", key: target.hmacKey }, {
    type: "request",
    userId: target.userId,
    actionId: target.actionId,
  }));
}
const sealPerSecond = count / ((performance.now() - s0) / 1000);
const dest: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: target.port };
const latencies: number[] = [];
let nextRequest = 0;
let sent = 0;
let ok = 0;
let lost = 0;

async function lane(hostname: string, end: number): Promise<void> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  let pending: Promise<[Uint8Array, Deno.Addr]> | undefined;
  try {
    while (performance.now() < end && nextRequest < sealed.length) {
      const req = sealed[nextRequest++];
      const t = performance.now();
      await conn.send(req.datagram, dest);
      sent++;
      const deadline = t + timeoutMs;
      let answered = false;
      while (!answered) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        pending ??= conn.receive();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const got = await Promise.race([
          pending,
          new Promise<null>((r) => timer = setTimeout(() => r(null), left)),
        ]);
        clearTimeout(timer);
        if (got === null) break;
        pending = undefined;
        const r = req.reply.open(got[0]);
        if (r.ok && r.reply.status === 0) answered = true; // else: a late reply, keep waiting
      }
      if (answered) {
        ok++;
        latencies.push(performance.now() - t);
      } else lost++;
    }
  } finally {
    conn.close();
    pending?.catch(() => {});
  }
}

await readyAndWait();
const t0 = performance.now();
const end = t0 + seconds * 1000;
await Promise.all(sources.map((s) => lane(s, end)));
const elapsed = (performance.now() - t0) / 1000;
console.log(JSON.stringify(blastReport({ sent, ok, lost }, latencies, elapsed, sealPerSecond)));

/**
 * Garbage sender (one process of the flood): random datagrams of `--size` bytes to
 * `--port` on 127.0.0.1 at `--rate` datagrams/s (0 = as fast as it can) for `--seconds`,
 * from sockets bound to the `--sources` addresses (round robin). Sends in batches of
 * `--batch` concurrent sends. Bounded: stops after `--seconds`, loopback only.
 *
 * Prints `ready`, waits for a stdin line, runs, prints `{"sent":N,"errors":N,"seconds":S}`.
 * @module
 */
import { expandAddresses, numFlag, parseFlags, readyAndWait, sleep } from "./common.ts";

const flags = parseFlags(Deno.args);
const port = numFlag(flags, "port");
const rate = numFlag(flags, "rate", 0);
const seconds = Math.min(numFlag(flags, "seconds", 5), 60);
const size = numFlag(flags, "size", 256);
const batch = numFlag(flags, "batch", 64);
const sources = expandAddresses(flags.get("sources") ?? "127.0.0.2");

const conns = sources.map((hostname) =>
  Deno.listenDatagram({ transport: "udp", hostname, port: 0 })
);
const target: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
// A pool of random datagrams, cycled: each is random bytes, so no mac1 ever matches.
const pool = Array.from({ length: 256 }, () => crypto.getRandomValues(new Uint8Array(size)));

await readyAndWait();
let sent = 0;
let errors = 0;
let k = 0;
const t0 = performance.now();
const end = t0 + seconds * 1000;
while (true) {
  const now = performance.now();
  if (now >= end) break;
  let n = batch;
  if (rate > 0) {
    const due = Math.floor(((now - t0) / 1000) * rate) - sent;
    if (due <= 0) {
      await sleep(1);
      continue;
    }
    n = Math.min(batch, due);
  }
  const ps: Promise<number>[] = [];
  for (let i = 0; i < n; i++, k++) {
    ps.push(conns[k % conns.length].send(pool[k & 255], target));
  }
  const rs = await Promise.allSettled(ps);
  for (const r of rs) r.status === "fulfilled" ? sent++ : errors++;
}
const elapsed = (performance.now() - t0) / 1000;
for (const c of conns) c.close();
console.log(JSON.stringify({ sent, errors, seconds: elapsed }));

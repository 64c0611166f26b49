/**
 * The daemon's own per-datagram path, in process, through the real `Daemon` and its
 * pipeline (not a hand composition of the stages as `pipeline_bench.ts`): a valid ping
 * (answered through a recording channel) and 1,200 B of garbage from an admitted source.
 * `deno bench bench/daemon_path_bench.ts`
 * @module
 */
import { inProcess } from "../tests/daemon/_inprocess.ts";

const p = await inProcess({}, {}, false);
const garbage = crypto.getRandomValues(new Uint8Array(1200));
let n = 0;
const from = (): Deno.NetAddr => ({
  transport: "udp",
  hostname: `127.0.${(n >> 8) & 255}.${n++ & 255}`,
  port: 40000,
});

Deno.bench("daemon path: 1,200 B garbage from an admitted source", () => {
  p.deliver(garbage, from());
});

Deno.bench("daemon path: valid ping, sealed reply", { n: 2000 }, (b) => {
  const req = p.seal(1);
  b.start();
  p.deliver(req.datagram, from());
  b.end();
});

globalThis.addEventListener("unload", () => {
  p.close();
});

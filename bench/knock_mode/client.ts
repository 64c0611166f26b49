/**
 * The client side of the knock-mode bench, run in the client namespace. Argv: one JSON
 * object.
 *
 * - `{ mode: "latency", server, port, seq, sources }`: from each source in turn, the knocks
 *   back to back, then probes to the guarded port until the first echo (at most 2 s): the
 *   time from the last knock leaving to the sending of the first probe that passed, ms.
 * - `{ mode: "flood", server, seq, count, sources, ports? }`: `count` wrong knocks spread
 *   over the sources, as fast as it can, each source cycling through `ports` (default: the
 *   first port, the first port again, the last port: into stage 1, again, reset; never the
 *   whole sequence).
 *
 * Prints one JSON line.
 * @module
 */
const arg = JSON.parse(Deno.args[0]) as {
  mode: "latency" | "flood";
  server: string;
  port?: number;
  seq: number[];
  sources: string[];
  count?: number;
  ports?: number[];
};
const at = (port: number) => ({ transport: "udp" as const, hostname: arg.server, port });
const knockData = new Uint8Array(8);

if (arg.mode === "latency") {
  // Each probe carries its send time; the first echo names the first probe that passed, so
  // the figure does not depend on when this process got round to reading the echo.
  const ms: number[] = [];
  let failed = 0;
  for (const src of arg.sources) {
    const sock = Deno.listenDatagram({ transport: "udp", hostname: src, port: 0 });
    let first: number | undefined;
    const echo = sock.receive().then(([d]) => {
      first = new DataView(d.buffer, d.byteOffset).getFloat64(0);
    }, () => {});
    for (const p of arg.seq) await sock.send(knockData, at(p));
    const t0 = performance.now();
    const probe = new Uint8Array(16);
    const view = new DataView(probe.buffer);
    while (first === undefined && performance.now() - t0 < 2000) {
      view.setFloat64(0, performance.now());
      await sock.send(probe, at(arg.port!));
      // Yield to the event loop now and then so the echo is read.
      await new Promise((r) => setTimeout(r, 0));
    }
    if (first !== undefined) ms.push(first - t0);
    else failed++;
    sock.close();
    await echo;
  }
  console.log(JSON.stringify({ ms, failed }));
} else {
  const socks = arg.sources.map((hostname) =>
    Deno.listenDatagram({ transport: "udp", hostname, port: 0 })
  );
  const [a, b, c] = arg.seq;
  const wrong = arg.ports ?? [a, a, c ?? b];
  const t0 = performance.now();
  const lanes = socks.map(async (sock, lane) => {
    // Each source on its own: first port, first port again, a wrong port (never complete).
    for (let i = lane, k = 0; i < arg.count!; i += socks.length, k++) {
      await sock.send(knockData, at(wrong[k % wrong.length]));
    }
  });
  await Promise.all(lanes);
  const seconds = (performance.now() - t0) / 1000;
  for (const s of socks) s.close();
  console.log(JSON.stringify({ sent: arg.count, seconds }));
}

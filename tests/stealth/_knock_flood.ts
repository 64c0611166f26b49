/**
 * A flood of wrong UDP knocks for stealth tests, run in the client namespace. Argv: one JSON
 * object `{ server, ports, sources, ms }`: from every source in turn, `ports` in a cycle
 * (e.g. the first port, then a wrong one: into stage 1 and reset), as fast as it can, for
 * `ms`. Prints `started` at once and `{"sent": N}` at the end.
 * @module
 */
const arg = JSON.parse(Deno.args[0]) as {
  server: string;
  ports: number[];
  sources: string[];
  ms: number;
};
const socks = arg.sources.map((hostname) =>
  Deno.listenDatagram({ transport: "udp", hostname, port: 0 })
);
const data = new Uint8Array(8);
const end = performance.now() + arg.ms;
let sent = 0;
console.log("started");
for (let k = 0; performance.now() < end; k++) {
  const port = arg.ports[k % arg.ports.length];
  await Promise.all(
    socks.map((s) => s.send(data, { transport: "udp", hostname: arg.server, port })),
  );
  sent += socks.length;
}
for (const s of socks) s.close();
console.log(JSON.stringify({ sent }));

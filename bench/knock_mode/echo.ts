/**
 * The guarded port of the knock-mode bench: a UDP echo on HOST:PORT (argv). Prints `ready`.
 * @module
 */
const [hostname, port] = [Deno.args[0], Number(Deno.args[1])];
const sock = Deno.listenDatagram({ transport: "udp", hostname, port });
console.log("ready");
const buf = new Uint8Array(2048);
for (;;) {
  const [data, from] = await sock.receive(buf);
  await sock.send(data, from);
}

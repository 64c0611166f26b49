/**
 * The memory baseline: the smallest Deno UDP listener (`Deno.listenDatagram` on 127.0.0.1,
 * one `receive()` loop into one reused buffer, nothing imported). Prints `{"port":P}` when
 * listening, then waits for a line on stdin and exits. The harness reads its idle RSS next
 * to the daemon's.
 * @module
 */
const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
let closed = false;
(async () => {
  const buf = new Uint8Array(2048);
  while (!closed) {
    try {
      await conn.receive(buf);
    } catch {
      return;
    }
  }
})();
console.log(JSON.stringify({ port: (conn.addr as Deno.NetAddr).port }));
const reader = Deno.stdin.readable.getReader();
await reader.read();
closed = true;
conn.close();
Deno.exit(0);

/**
 * The floor: a bare UDP receiver on `--host` (default 127.0.0.1; `--port`, 0 = any) with `--loops` (default
 * 4, as the daemon) concurrent receive calls that only count datagrams. As the daemon, each
 * loop reuses one 2 KiB buffer (`receive(buf)`) and `--recv-buffer BYTES` sizes the socket
 * (`SO_RCVBUF`); with `--alloc` Deno allocates a fresh 64 KiB buffer per datagram instead
 * (what a naive receiver does). Prints
 * `{"port":P}` when listening, counts until a line arrives on stdin, then prints
 * `{"received":N}` and exits.
 * @module
 */
import { numFlag, parseFlags } from "./common.ts";
import { UdpSocketHandle } from "../../src/net/sockopt.ts";

const flags = parseFlags(Deno.args);
const loops = numFlag(flags, "loops", 4);
const conn = Deno.listenDatagram({
  transport: "udp",
  hostname: flags.get("host") ?? "127.0.0.1",
  port: numFlag(flags, "port", 0),
});
const recvBuffer = numFlag(flags, "recv-buffer", 0);
if (recvBuffer > 0) {
  const socket = UdpSocketHandle.find(conn.addr as Deno.NetAddr);
  const set = typeof socket === "string" ? socket : socket.setReceiveBuffer(recvBuffer);
  if (typeof set === "string") throw new Error(`floor: cannot set the receive buffer: ${set}`);
}
let received = 0;
let closed = false;
const prealloc = !flags.has("alloc");
async function loop(): Promise<void> {
  const buf = prealloc ? new Uint8Array(2048) : undefined;
  while (!closed) {
    try {
      await conn.receive(buf);
      received++;
    } catch {
      return;
    }
  }
}
for (let i = 0; i < loops; i++) loop();
console.log(JSON.stringify({ port: (conn.addr as Deno.NetAddr).port }));
const reader = Deno.stdin.readable.getReader();
await reader.read();
closed = true;
console.log(JSON.stringify({ received }));
conn.close();
Deno.exit(0);

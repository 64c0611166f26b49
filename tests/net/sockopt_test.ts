/**
 * Socket options through libc: the receive buffer is really set (read back from the kernel
 * two ways) and the drop counter really counts datagrams the kernel discarded, checked
 * against /proc/net/udp, an independent source.
 */
import assert from "node:assert/strict";
import { UdpSocketHandle } from "../../src/net/sockopt.ts";
import { readUdpSockets } from "../../bench/udpstats.ts";

function bind(): { conn: Deno.DatagramConn; addr: Deno.NetAddr } {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  return { conn, addr: conn.addr as Deno.NetAddr };
}

Deno.test("setReceiveBuffer changes SO_RCVBUF as the kernel reports it", () => {
  const a = bind();
  const b = bind();
  try {
    const ha = UdpSocketHandle.find(a.addr);
    const hb = UdpSocketHandle.find(b.addr);
    assert.ok(typeof ha !== "string", String(ha));
    assert.ok(typeof hb !== "string", String(hb));
    assert.notEqual(ha.fd, hb.fd, "each address finds its own socket");
    const before = ha.memInfo();
    assert.ok(typeof before !== "string", String(before));
    const result = ha.setReceiveBuffer(1024 * 1024);
    assert.ok(typeof result !== "string", String(result));
    const after = ha.memInfo();
    assert.ok(typeof after !== "string");
    assert.equal(after.receiveBufferBytes, result.effective);
    assert.notEqual(after.receiveBufferBytes, before.receiveBufferBytes);
    if (Deno.uid() === 0) {
      assert.equal(result.effective, 2 * 1024 * 1024, "root may exceed rmem_max (SO_RCVBUFFORCE)");
      assert.equal(result.capped, false);
    }
    const untouched = hb.memInfo();
    assert.ok(typeof untouched !== "string");
    assert.equal(
      untouched.receiveBufferBytes,
      before.receiveBufferBytes,
      "the other socket kept its size",
    );
  } finally {
    a.conn.close();
    b.conn.close();
  }
});

Deno.test("memInfo counts datagrams the kernel dropped on a full buffer, as /proc/net/udp does", async () => {
  const rx = bind();
  const tx = bind();
  try {
    const h = UdpSocketHandle.find(rx.addr);
    assert.ok(typeof h !== "string", String(h));
    const set = h.setReceiveBuffer(4096); // the kernel raises this to its minimum
    assert.ok(typeof set !== "string");
    const payload = new Uint8Array(1000);
    for (let i = 0; i < 200; i++) await tx.conn.send(payload, rx.addr);
    const info = h.memInfo();
    assert.ok(typeof info !== "string", String(info));
    assert.ok(info.drops > 0, `drops ${info.drops}`);
    assert.ok(info.drops < 200, "some datagrams were queued");
    assert.ok(info.queuedBytes > 0);
    const proc = await readUdpSockets(rx.addr.port);
    if (proc.length > 0) assert.equal(proc[0].drops, info.drops);
  } finally {
    rx.conn.close();
    tx.conn.close();
  }
});

Deno.test("a closed socket is reported, never a wrong one", () => {
  const a = bind();
  const h = UdpSocketHandle.find(a.addr);
  assert.ok(typeof h !== "string");
  a.conn.close();
  assert.equal(typeof h.setReceiveBuffer(65536), "string");
  assert.equal(typeof h.memInfo(), "string");
  assert.match(String(UdpSocketHandle.find(a.addr)), /no UDP socket bound/);
});

Deno.test("without --allow-ffi the reason names the flag to add", async () => {
  const code = `
    const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const { UdpSocketHandle } = await import(${
    JSON.stringify(import.meta.resolve("../../src/net/sockopt.ts"))
  });
    console.log(UdpSocketHandle.find(conn.addr));
    conn.close();`;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, code);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-net", "--allow-net", "--allow-read", file],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  await Deno.remove(file);
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.match(text, /run with --allow-ffi=\/\S*libc\.so\.6 to set socket options/);
});

Deno.test("an IPv6 socket is found by its address and sized like an IPv4 one", () => {
  let conn: Deno.DatagramConn;
  try {
    conn = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
  } catch (err) {
    console.log(`skipped: no IPv6 loopback here (${err})`);
    return;
  }
  const v4 = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: (conn.addr as Deno.NetAddr).port,
  });
  try {
    const h6 = UdpSocketHandle.find(conn.addr as Deno.NetAddr);
    const h4 = UdpSocketHandle.find(v4.addr as Deno.NetAddr);
    assert.ok(typeof h6 !== "string", String(h6));
    assert.ok(typeof h4 !== "string", String(h4));
    assert.notEqual(h6.fd, h4.fd, "same port, other family: another socket");
    const set = h6.setReceiveBuffer(524288);
    assert.ok(typeof set !== "string", String(set));
    const info = h6.memInfo();
    assert.ok(typeof info !== "string");
    assert.equal(info.receiveBufferBytes, set.effective);
  } finally {
    conn.close();
    v4.close();
  }
});

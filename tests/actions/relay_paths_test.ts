/**
 * The relay's session paths over real loopback sockets: a stand-in next hop answers only the
 * ids it knows (as a final server answers only datagrams under a session key). Binding, the
 * bound id only, the client's exact address only, nothing from the next hop before it bound,
 * the unbound budget, the table's bound and expiry.
 */
import assert from "node:assert/strict";
import { BIND_MS, MAX_UNBOUND_FORWARDS, RelayPaths } from "../../src/actions/relay_paths.ts";
import { parseIp } from "../../src/util/ip.ts";

function sessionLike(id: bigint, counter: number, len = 64): Uint8Array {
  const d = new Uint8Array(len);
  const v = new DataView(d.buffer);
  v.setBigUint64(0, id);
  v.setBigUint64(8, BigInt(counter));
  return d;
}

function idOf(d: Uint8Array): bigint {
  return new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0);
}

async function recv(c: Deno.DatagramConn, ms = 400): Promise<Uint8Array | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const got = await Promise.race([
    c.receive(),
    new Promise<null>((r) => timer = setTimeout(() => r(null), ms)),
  ]);
  clearTimeout(timer);
  return got === null ? null : got[0];
}

Deno.test("relay paths: bind on the next hop's answer; only the bound id, only from the client", async () => {
  const now = 1_000_000;
  const counts = new Map<string, number>();
  let refuse = false;
  const owner = { server: "main", userId: 1, actionId: 20, ip: parseIp("127.0.0.9")! };
  const paths = new RelayPaths({
    clock: () => now,
    count: (n) => counts.set(n, (counts.get(n) ?? 0) + 1),
    max: 2,
    allowed: (o) => o === owner && !refuse,
  });
  const hop = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const hopAddr = hop.addr as Deno.NetAddr;
  const GOOD = 0x1122334455667788n;
  // The next hop echoes a datagram of a session it knows, as a final server answers one.
  const seenByHop: bigint[] = [];
  const echo = (async () => {
    try {
      for await (const [d, from] of hop) {
        seenByHop.push(idOf(d));
        if (idOf(d) === GOOD) await hop.send(d, from);
      }
    } catch {
      // closed
    }
  })();
  const back: { data: Uint8Array; to: Deno.NetAddr }[] = [];
  const channel = {
    closed: false,
    send: (data: Uint8Array, to: Deno.NetAddr) => back.push({ data, to }),
  };
  const client = { hostname: "127.0.0.9", port: 40000 };
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    assert.equal(paths.claims(sessionLike(GOOD, 0), client), false, "no path yet");
    assert.ok(paths.add({ client, channel, conn, to: hopAddr, owner }));
    // Not session-shaped, or from another port or address: not the path's.
    assert.equal(paths.claims(new Uint8Array(10), client), false);
    assert.equal(paths.claims(sessionLike(GOOD, 0), { ...client, port: 40001 }), false);
    assert.equal(paths.claims(sessionLike(GOOD, 0), { ...client, hostname: "127.0.0.8" }), false);
    // Unbound: a spoofer's id and the client's are both forwarded; only the hop's answer binds.
    const BAD = 0x0badn;
    assert.ok(paths.claims(sessionLike(BAD, 0), client));
    paths.forward(sessionLike(BAD, 0), client);
    paths.forward(sessionLike(GOOD, 0), client);
    await waitUntil(() => back.length === 1);
    assert.equal(idOf(back[0].data), GOOD);
    assert.deepEqual([back[0].to.hostname, back[0].to.port], [client.hostname, client.port]);
    assert.equal(counts.get("relay_paths_bound"), 1);
    // Bound: the other id is no longer the path's, in either direction.
    assert.equal(paths.claims(sessionLike(BAD, 1), client), false);
    assert.ok(paths.claims(sessionLike(GOOD, 1), client));
    const before = seenByHop.length;
    paths.forward(sessionLike(BAD, 2), client);
    paths.forward(sessionLike(GOOD, 3), client);
    await waitUntil(() => back.length === 2);
    assert.equal(seenByHop.length, before + 1, "only the bound id went out");
    // The hop sends another id to the path socket: not passed on.
    await hop.send(sessionLike(BAD, 9), conn.addr as Deno.NetAddr);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(back.length, 2);
    // From a socket that is not the next hop: not passed on.
    const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    await stranger.send(sessionLike(GOOD, 10), conn.addr as Deno.NetAddr);
    stranger.close();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(back.length, 2);
    assert.equal(await recv(hop, 50), null);
    // The relay's policy says no any more (a reload, an admin disable): the path ends.
    refuse = true;
    paths.forward(sessionLike(GOOD, 11), client);
    assert.equal(paths.size, 0);
    assert.equal(counts.get("relay_path_refused"), 1);
    assert.equal(paths.claims(sessionLike(GOOD, 12), client), false);
  } finally {
    paths.close();
    hop.close();
    await echo;
  }
  assert.equal(paths.size, 0);
});

Deno.test("relay paths: unbound budget, bind deadline, and the table's bound", () => {
  let now = 0;
  const paths = new RelayPaths({ clock: () => now, max: 2 });
  const sink = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to = sink.addr as Deno.NetAddr;
  const channel = { closed: false, send: () => {} };
  const sock = () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const c1 = { hostname: "127.0.0.9", port: 1 };
  const c2 = { hostname: "127.0.0.9", port: 2 };
  const c3 = { hostname: "127.0.0.9", port: 3 };
  try {
    assert.ok(paths.add({ client: c1, channel, conn: sock(), to }));
    assert.ok(paths.add({ client: c2, channel, conn: sock(), to }));
    assert.equal(paths.hasRoom(c3), false);
    const extra = sock();
    assert.equal(paths.add({ client: c3, channel, conn: extra, to }), false, "full");
    // The same client opening again replaces its path.
    assert.ok(paths.hasRoom(c1));
    assert.ok(paths.add({ client: c1, channel, conn: sock(), to }));
    assert.equal(paths.size, 2);
    // An unbound path forwards at most MAX_UNBOUND_FORWARDS datagrams.
    for (let i = 0; i < MAX_UNBOUND_FORWARDS; i++) {
      assert.ok(paths.claims(sessionLike(5n, i), c2));
      paths.forward(sessionLike(5n, i), c2);
    }
    assert.equal(paths.claims(sessionLike(5n, 99), c2), false, "budget spent");
    // A path that did not bind within BIND_MS ends and frees its place.
    now += BIND_MS + 1;
    assert.ok(paths.hasRoom(c3));
    assert.equal(paths.size, 0);
  } finally {
    paths.close();
    sink.close();
  }
});

async function waitUntil(ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

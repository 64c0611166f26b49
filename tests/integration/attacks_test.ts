/**
 * The attacker of DESIGN §9 against a real daemon process over loopback UDP: packets
 * copied and resent from a second address, a reply lost on the path.
 */
import assert from "node:assert/strict";
import { aliceOptions, makeFixture, startDaemon } from "../_helpers/daemon.ts";
import { sendRequest } from "../../src/client/send.ts";
import { openCookieReply, ReplyStatus, sealRequest } from "../../src/wire/mod.ts";
import { computeMac2 } from "../../src/wire/mac2.ts";

const FIREWALL = {
  id: 11,
  name: "ssh",
  type: "firewall",
  firewall: { ports: [{ proto: "tcp", port: 22 }], duration: "5m" },
};

/** Sends `datagram` from `bind` to the daemon and waits up to `ms` for one answer. */
async function sendFrom(
  bind: string,
  port: number,
  datagram: Uint8Array,
  ms: number,
): Promise<Uint8Array | undefined> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: bind, port: 0 });
  try {
    await conn.send(datagram, { transport: "udp", hostname: "127.0.0.1", port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const got = await Promise.race([
      conn.receive().then(([d]) => d),
      new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms)),
    ]);
    clearTimeout(timer);
    return got;
  } finally {
    conn.close();
  }
}

Deno.test("attack over UDP: a copied firewall request resent from elsewhere opens nothing for the copier", async () => {
  const fx = await makeFixture({ actions: [FIREWALL], aliceActions: ["ssh"] });
  // Dry run: the daemon logs the grant it would make instead of touching nftables.
  const d = await startDaemon(fx.config, ["--dry-run"]);
  try {
    const alice = { kind: "hmac" as const, key: fx.aliceKey };
    // The victim's request names her address; the copier sends the copy first.
    const sealed = sealRequest(fx.serverPublic, alice, {
      type: "request",
      userId: 1,
      actionId: 11,
      allowAddress: "127.0.0.5",
    }, { now: Date.now(), padTo: 1200 });
    await sendFrom("127.0.0.66", fx.port, sealed.datagram, 1000);
    await d.waitFor(/dry-run: would run action=ssh/);
    const plans = d.records().filter((r) => r.decision === "dry_run");
    assert.equal(plans.length, 1);
    assert.equal((plans[0].plan as { address: string }).address, "127.0.0.5");

    // A request without an address only earns its sender a cookie; the copier who answers
    // it with a mac2 over the copied bytes resends a nonce already seen: silence.
    const bare = sealRequest(fx.serverPublic, alice, {
      type: "request",
      userId: 1,
      actionId: 11,
    }, { now: Date.now(), padTo: 1200 });
    const answer = await sendFrom("127.0.0.66", fx.port, bare.datagram, 2000);
    assert.ok(answer, "a cookie reply");
    const cookie = openCookieReply(fx.serverPublic, bare.mac1, answer);
    assert.ok(cookie);
    const resent = bare.datagram.slice();
    const body = resent.subarray(0, resent.length - 16);
    resent.set(computeMac2(cookie.cookie, body), resent.length - 16);
    assert.equal(await sendFrom("127.0.0.66", fx.port, resent, 700), undefined);
    assert.equal(await sendFrom("127.0.0.5", fx.port, bare.datagram, 700), undefined);
    assert.equal(
      d.records().filter((r) => r.decision === "dry_run").length,
      1,
      "no grant planned for the copies",
    );
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});

Deno.test("attack over UDP: a reply lost on the path, the client retries, the action runs once", async () => {
  const fx = await makeFixture({
    scripts: { "count.sh": 'echo x >> "$0.count"; echo ran' },
    writable: true,
    actions: [{ id: 10, name: "count", type: "exec", command: ["$DIR/count.sh"] }],
    aliceActions: ["count"],
  });
  const d = await startDaemon(fx.config);
  // A relay on the path that drops the first reply it carries.
  const relay = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const upstream = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let client: Deno.NetAddr | undefined;
  let dropped = 0;
  const daemonAddr: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: fx.port };
  const pumps = Promise.allSettled([
    (async () => {
      for await (const [data, from] of relay) {
        client = from as Deno.NetAddr;
        await upstream.send(data, daemonAddr);
      }
    })(),
    (async () => {
      for await (const [data] of upstream) {
        if (dropped++ === 0) continue;
        if (client) await relay.send(data, client);
      }
    })(),
  ]);
  try {
    const r = await sendRequest(aliceOptions(fx, {
      port: (relay.addr as Deno.NetAddr).port,
      actionId: 10,
      timeoutMs: 700,
      retries: 3,
    }));
    assert.equal(r.status, ReplyStatus.Ok, JSON.stringify(r));
    assert.ok(r.attempts >= 2, "the first reply was lost, a retry was answered");
    assert.equal(await Deno.readTextFile(`${fx.dir}/count.sh.count`), "x\n", "ran once");
  } finally {
    relay.close();
    upstream.close();
    await pumps;
    await d.stop();
    await fx.cleanup();
  }
});

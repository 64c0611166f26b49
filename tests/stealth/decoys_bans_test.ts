/**
 * Server decoys consult the daemon's bans: a banned source gets no decoy answer of any kind
 * (UDP: nothing; TCP: closed without the banner), counted as `decoy_banned`; another source
 * is answered, and the banned one is again once the ban is lifted. Real daemon (privilege
 * separation) on loopback addresses, bans through the admin socket.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { makeFixture, startDaemon } from "../_helpers/daemon.ts";
import { AdminClient } from "../../src/client/admin/client.ts";
import { freePortRun } from "./_ports.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BANNER = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
const BANNED = "127.0.0.40";
const OTHER = "127.0.0.41";

/** Bytes of an answer to a 64-byte datagram from `from` (0: none within 700 ms). */
async function udpAnswer(from: string, port: number): Promise<number> {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: from, port: 0 });
  try {
    await sock.send(new Uint8Array(64), { transport: "udp", hostname: "127.0.0.2", port });
    const r = await Promise.race([sock.receive(), sleep(700).then(() => null)]);
    return r ? r[0].length : 0;
  } finally {
    sock.close();
  }
}

/** What a TCP connection from `from` reads before the peer closes (bounded: 3 s). */
function tcpRead(from: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const s = net.connect({ host: "127.0.0.2", port, localAddress: from });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close from the decoy within 3 s (read ${JSON.stringify(text)})`));
    }, 3000);
    s.on("data", (d) => text += d.toString());
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

Deno.test({
  name: "decoys: a banned source gets no answer (UDP or TCP); others do; lifted ban: answered",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const base = freePortRun(2, ["127.0.0.2"]);
    const fx = await makeFixture({
      top: {
        decoys: {
          rate: 1000,
          per_source_rate: 100,
          ports: [
            { listen: `127.0.0.2:${base}`, type: "banner", banner: BANNER },
            { listen: `127.0.0.2:${base + 1}`, type: "random" },
          ],
        },
      },
    });
    const daemon = await startDaemon(fx.config);
    const admin = await AdminClient.connect(`${fx.dir}/run/admin.sock`);
    const ask = async (cmd: string, args: Record<string, unknown>) => {
      const r = await admin.request(cmd, args, 10_000);
      if (!r.ok) throw new Error(`${cmd}: ${r.error}`);
      return r.result as Record<string, unknown>;
    };
    try {
      assert.equal(await tcpRead(BANNED, base), BANNER, "before the ban: the banner");
      assert.ok(await udpAnswer(BANNED, base + 1) > 0, "before the ban: a UDP answer");
      await ask("ban", { addr: BANNED, reason: "test" });
      assert.equal(await tcpRead(BANNED, base), "", "banned: closed without a banner");
      assert.equal(await udpAnswer(BANNED, base + 1), 0, "banned: no UDP answer");
      assert.equal(await tcpRead(OTHER, base), BANNER, "another source: the banner");
      assert.ok(await udpAnswer(OTHER, base + 1) > 0, "another source: a UDP answer");
      const counters = (await ask("status", {})).counters as Record<string, number>;
      assert.equal(counters.decoy_banned, 2, JSON.stringify(counters));
      assert.equal(counters.decoy_hits, 6, JSON.stringify(counters));
      await ask("unban", { addr: BANNED });
      assert.equal(await tcpRead(BANNED, base), BANNER, "ban lifted: the banner again");
      assert.ok(await udpAnswer(BANNED, base + 1) > 0, "ban lifted: a UDP answer again");
    } finally {
      admin.close();
      await daemon.stop();
      await fx.cleanup();
    }
  },
});

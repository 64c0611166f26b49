/**
 * Pass-through (`type: forward`): a real daemon forwards raw UDP to a real echo service on
 * 127.0.0.9 only for the address an allowed request named, until the grant expires; other
 * sources get silence, and a request without an address is asked to prove its source.
 */
import assert from "node:assert/strict";
import { aliceOptions, freeUdpPort, makeFixture, startDaemon } from "../_helpers/daemon.ts";
import { sendRequest } from "../../src/client/send.ts";
import { ReplyStatus } from "../../src/wire/mod.ts";

/** Sends `text` from `bind` to `to` and waits up to `ms` for one answer (null: silence). */
async function probe(
  bind: string,
  to: Deno.NetAddr,
  text: string,
  ms: number,
): Promise<string | null> {
  const c = Deno.listenDatagram({ transport: "udp", hostname: bind, port: 0 });
  try {
    await c.send(new TextEncoder().encode(text), to);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const got = await Promise.race([
      c.receive(),
      new Promise<null>((r) => timer = setTimeout(() => r(null), ms)),
    ]);
    clearTimeout(timer);
    return got === null ? null : new TextDecoder().decode(got[0]);
  } finally {
    c.close();
  }
}

Deno.test("forward: raw UDP passes to the inner service only for the authorised address, until the grant ends", async () => {
  const echo = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.9", port: 0 });
  const echoAddr = echo.addr as Deno.NetAddr;
  const served = (async () => {
    try {
      for await (const [data, from] of echo) await echo.send(data, from);
    } catch {
      // closed
    }
  })();
  const fwdPort = freeUdpPort();
  const fx = await makeFixture({
    actions: [{
      id: 40,
      name: "game",
      type: "forward",
      forward: {
        listen: `127.0.0.1:${fwdPort}`,
        to: `127.0.0.9:${echoAddr.port}`,
        duration: "3s",
        max_flows: 1,
      },
    }],
    aliceActions: ["game"],
  });
  const d = await startDaemon(fx.config);
  const fwd: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: fwdPort };
  const grant = (allowAddress?: string, allowObserved = false) =>
    sendRequest(aliceOptions(fx, {
      actionId: 40,
      timeoutMs: 3000,
      allowAddress,
      allowObserved,
    }));
  try {
    // Nothing forwards before a grant (the forward is not even listening yet).
    assert.equal(await probe("127.0.0.1", fwd, "early", 300), null);
    // A grant for 127.0.0.1, named in the sealed request.
    const ok = await grant("127.0.0.1");
    assert.equal(ok.status, ReplyStatus.Ok, JSON.stringify(ok));
    assert.deepEqual((ok.body?.data as { address: string }).address, "127.0.0.1");
    assert.equal(await probe("127.0.0.1", fwd, "hello inner", 3000), "hello inner");
    // Another source: silence.
    assert.equal(await probe("127.0.0.10", fwd, "intruder", 500), null);
    // max_flows 1: the first client's flow (its port) holds the only slot until it idles or
    // its grant ends, so a second port of the same address gets nothing meanwhile.
    assert.equal(await probe("127.0.0.1", fwd, "second flow", 500), null);
    // No address named: the daemon asks for proof (a cookie round trip) and grants the
    // proven source.
    const proven = await grant(undefined, true);
    assert.equal(proven.status, ReplyStatus.Ok, JSON.stringify(proven));
    assert.equal(proven.cookieRounds, 1);
    assert.equal((proven.body?.data as { address: string }).address, "127.0.0.1");
    await d.waitFor(/accepted user=alice action=game/);
    // The grant (duration 3s) ends: silence again.
    await new Promise((r) => setTimeout(r, 3200));
    assert.equal(await probe("127.0.0.1", fwd, "late", 500), null);
  } finally {
    await d.stop();
    echo.close();
    await served;
    await fx.cleanup();
  }
});

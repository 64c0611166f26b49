/**
 * The client loop against a small fake server on 127.0.0.1 (a real UDP socket, the real
 * wire code): a cookie reply is answered at once by a resend with a valid mac2, the same
 * retry id, a new nonce and the observed address; retries keep the retry id; a hostile
 * path that answers with cookie replies forever cannot make the client loop.
 */
import assert from "node:assert/strict";
import {
  CookieChecker,
  type OpenedRequest,
  type ReplySealer,
  RequestOpener,
} from "../../src/wire/mod.ts";
import { sendRequest } from "../../src/client/send.ts";
import { CookieJar } from "../../src/client/cookies.ts";
import { formatIp } from "../../src/util/ip.ts";
import { AUTHS, lookup, serverPrivate, serverPublic } from "../wire/_fixtures.ts";

interface Seen {
  datagram: Uint8Array;
  msg: OpenedRequest;
  replier: ReplySealer;
  proven: boolean;
}

/** Answers each datagram through `answer` (a cookie reply, a sealed reply, or nothing). */
function fakeServer(
  answer: (seen: Seen, index: number, checker: CookieChecker, from: Deno.NetAddr) =>
    | Uint8Array
    | undefined,
) {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (sock.addr as Deno.NetAddr).port;
  const opener = new RequestOpener({ x25519Private: serverPrivate, x25519Public: serverPublic });
  const checker = new CookieChecker(serverPublic);
  const seen: Seen[] = [];
  // Exact copies (a first contact's second send) are counted and dropped, as the daemon does.
  const recent = new Set<string>();
  const copies = { count: 0 };
  const done = (async () => {
    try {
      for (;;) {
        const [data, addr] = await sock.receive();
        const from = addr as Deno.NetAddr;
        const hex = data.toHex();
        if (recent.has(hex)) {
          copies.count++;
          continue;
        }
        recent.add(hex);
        const r = opener.open(data, lookup);
        if (!r.ok) continue;
        const s: Seen = {
          datagram: data,
          msg: r.msg,
          replier: r.replier,
          proven: checker.checkMac2(data, from.hostname, from.port),
        };
        seen.push(s);
        const out = answer(s, seen.length - 1, checker, from);
        if (out) await sock.send(out, from);
      }
    } catch {
      // closed
    }
  })();
  return {
    port,
    seen,
    copies,
    async close() {
      sock.close();
      await done;
    },
  };
}

const ok = (s: Seen) => s.replier.seal({ status: 0, serverTime: Date.now() });

function send(port: number, extra: Partial<Parameters<typeof sendRequest>[0]> = {}) {
  return sendRequest({
    host: "127.0.0.1",
    port,
    serverPublic,
    userId: AUTHS.hmac.userId,
    auth: AUTHS.hmac.auth,
    actionId: 5,
    wait: true,
    timeoutMs: 2000,
    retries: 0,
    jar: new CookieJar(),
    ...extra,
  });
}

Deno.test("a cookie reply is answered at once: valid mac2, same retry id, new nonce, observed address", async () => {
  const srv = fakeServer((s, i, checker, from) =>
    i === 0 ? checker.cookieReply(s.datagram, from.hostname, from.port) : ok(s)
  );
  try {
    const res = await send(srv.port);
    assert.equal(res.answered, true);
    assert.equal(res.status, 0);
    assert.equal(res.cookieRounds, 1);
    assert.equal(res.attempts, 1);
    assert.equal(srv.seen.length, 2);
    // First contact without a cookie: the first datagram went twice, the resend once.
    assert.equal(srv.copies.count, 1);
    const [first, second] = srv.seen;
    assert.equal(first.proven, false);
    assert.equal(first.msg.allowAddress, undefined);
    assert.equal(second.proven, true, "the resend carries a valid mac2");
    assert.deepEqual(second.msg.retryId, first.msg.retryId);
    assert.notDeepEqual(second.msg.nonce, first.msg.nonce);
    assert.equal(second.msg.version, 2);
    assert.ok(second.msg.allowAddress);
    assert.equal(formatIp(second.msg.allowAddress), "127.0.0.1");
    assert.equal(res.observed?.ip, "127.0.0.1");
  } finally {
    await srv.close();
  }
});

Deno.test("an explicit allow address wins over the observed one", async () => {
  const srv = fakeServer((s, i, checker, from) =>
    i === 0 ? checker.cookieReply(s.datagram, from.hostname, from.port) : ok(s)
  );
  try {
    const res = await send(srv.port, { allowAddress: "203.0.113.5" });
    assert.equal(res.status, 0);
    assert.equal(formatIp(srv.seen[0].msg.allowAddress!), "203.0.113.5");
    assert.equal(formatIp(srv.seen[1].msg.allowAddress!), "203.0.113.5");
  } finally {
    await srv.close();
  }
});

Deno.test("the cookie is kept per server: the next request has mac2 from its first datagram", async () => {
  const srv = fakeServer((s, i, checker, from) =>
    i === 0 ? checker.cookieReply(s.datagram, from.hostname, from.port) : ok(s)
  );
  const jar = new CookieJar();
  try {
    await send(srv.port, { jar });
    // The next request goes from the same local port, so its first datagram is proven.
    const res = await send(srv.port, { jar });
    assert.equal(res.status, 0);
    assert.equal(res.cookieRounds, 0);
    assert.equal(srv.seen.length, 3);
    // With a cookie the client sends no copy (only the first request's first datagram had one).
    assert.equal(srv.copies.count, 1);
    assert.equal(srv.seen[2].proven, true);
    assert.equal(formatIp(srv.seen[2].msg.allowAddress!), "127.0.0.1");
  } finally {
    await srv.close();
  }
});

Deno.test("retries after silence keep the retry id and change the nonce", async () => {
  const srv = fakeServer((s, i) => i < 2 ? undefined : ok(s));
  try {
    const res = await send(srv.port, { timeoutMs: 150, retries: 3 });
    assert.equal(res.status, 0);
    assert.equal(res.attempts, 3);
    // Only the first attempt is doubled; retries are what the server counts as retries.
    assert.equal(srv.copies.count, 1);
    const ids = new Set(srv.seen.map((s) => s.msg.retryId.toHex()));
    const nonces = new Set(srv.seen.map((s) => s.msg.nonce.toHex()));
    assert.equal(ids.size, 1);
    assert.equal(nonces.size, srv.seen.length);
  } finally {
    await srv.close();
  }
});

Deno.test("a path that only ever sends cookie replies gets at most 2 rounds per attempt", async () => {
  const srv = fakeServer((s, _i, checker, from) =>
    checker.cookieReply(s.datagram, from.hostname, from.port)
  );
  try {
    const res = await send(srv.port, { timeoutMs: 200, retries: 1 });
    assert.equal(res.answered, false);
    assert.equal(res.cookieRounds, 4);
    // Per attempt: the first datagram and two resends.
    assert.equal(srv.seen.length, 6);
    assert.equal(new Set(srv.seen.map((s) => s.msg.retryId.toHex())).size, 1);
  } finally {
    await srv.close();
  }
});

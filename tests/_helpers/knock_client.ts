/**
 * A knock client that runs inside a network namespace (`ip netns exec NS deno run …`),
 * driven over stdin/stdout with one JSON object per line, so a test or bench in the host
 * namespace can send real requests and try real TCP connects from chosen client addresses
 * without paying a process start per knock.
 *
 * Commands (each may carry an `id`, echoed in its result):
 * - `send`: one request through `sendRequest` → `{answered, status, reason, data, rttMs}`;
 * - `connect`: one TCP connect from `from` → `{ok, ms}`;
 * - `knockOpen`: send a knock and, at the same moment, start a TCP connect attempt every
 *   `pollMs` from the same address → `{replyMs, openMs}`: ms from the knock leaving to the
 *   reply, and to the first connect that succeeded (the port is open end to end);
 * - `blast`: pre-seal requests (`payloads` round-robin), then keep one in flight per
 *   entry of `sources` for `seconds` → counts, ok/s and reply latency quantiles;
 * - `pings`: one request every `everyMs` for `count` requests → reply latency quantiles;
 * - `paced`: open loop: `rate` requests/s for `seconds` whatever the replies do, each on a
 *   free socket of a pool over `sources` → counts, late replies and send→reply quantiles.
 *
 * {@linkcode spawnKnockClient} starts one and returns a typed caller.
 * @module
 */
import net from "node:net";
import { sealParts, type SendOptions, sendRequest } from "../../src/client/send.ts";
import { ReplyStatus, type SealedRequest } from "../../src/wire/mod.ts";

/** What the client knows about the server and the user it sends as. */
export interface KnockClientInit {
  /** Server address. */
  host: string;
  /** Server UDP port. */
  port: number;
  /** Server X25519 public key. */
  serverPublic: Uint8Array;
  /** User id. */
  userId: number;
  /** The user's HMAC key. */
  hmacKey: Uint8Array;
}

/** Result of `send`. */
export interface SendOutcome {
  /** A reply arrived. */
  answered: boolean;
  /** Reply status (0 ok, 2 denied, …). */
  status?: number;
  /** The refusal reason, if any. */
  reason?: string;
  /** The reply's data. */
  data?: unknown;
  /** Round trip, ms. */
  rttMs?: number;
}

/** Result of `knockOpen`. */
export interface KnockOpenOutcome {
  /** Knock sent → reply, ms (undefined: no ok reply). */
  replyMs?: number;
  /** Knock sent → first successful TCP connect, ms (undefined: never opened in time). */
  openMs?: number;
}

/** Result of `blast` and `pings`. */
export interface LoadOutcome {
  /** Requests sent. */
  sent: number;
  /** Ok replies. */
  ok: number;
  /** Not answered in time (or not ok). */
  lost: number;
  /** Wall time, s. */
  seconds: number;
  /** ok / seconds. */
  okPerSecond: number;
  /** Reply latency quantiles of ok requests, ms. */
  p50Ms: number;
  /** 99th percentile, ms. */
  p99Ms: number;
  /** Slowest ok reply, ms. */
  maxMs: number;
}

/** The commands and their results. */
export interface KnockClientApi {
  /** Sends one request. */
  send(
    c: { actionId: number; payload?: string; bind?: string; timeoutMs?: number; retries?: number },
  ): Promise<SendOutcome>;
  /** One TCP connect. */
  connect(c: { host: string; port: number; from?: string; timeoutMs?: number }): Promise<
    { ok: boolean; ms: number }
  >;
  /** Knock and poll the port. */
  knockOpen(
    c: {
      actionId: number;
      payload?: string;
      bind: string;
      connectHost: string;
      connectPort: number;
      deadlineMs?: number;
      pollMs?: number;
    },
  ): Promise<KnockOpenOutcome>;
  /** Sustained load from several sources. */
  blast(
    c: {
      actionId: number;
      payloads: string[];
      sources: string[];
      count: number;
      seconds: number;
      timeoutMs?: number;
    },
  ): Promise<LoadOutcome & { sealPerSecond: number }>;
  /**
   * Open loop at a fixed offered rate: a request every 1/`rate` s for `seconds` (sent on
   * schedule whatever the replies do), each on a free socket of `sockets` spread over
   * `sources`; a request whose turn finds every socket busy counts as lost. `late`: ok
   * replies slower than `lateMs` (default 50).
   */
  paced(
    c: {
      actionId: number;
      payloads: string[];
      sources: string[];
      rate: number;
      seconds: number;
      sockets?: number;
      lateMs?: number;
      timeoutMs?: number;
    },
  ): Promise<LoadOutcome & { late: number; offeredPerSecond: number }>;
  /** Paced requests (e.g. pings during a blast). */
  pings(
    c: { actionId: number; bind?: string; count: number; everyMs: number; timeoutMs?: number },
  ): Promise<LoadOutcome>;
  /** Ends the process. */
  close(): Promise<void>;
}

/** Starts a knock client in namespace `ns` (undefined: this namespace). */
export async function spawnKnockClient(
  ns: string | undefined,
  init: KnockClientInit,
): Promise<KnockClientApi> {
  const initText = JSON.stringify({
    ...init,
    serverPublic: init.serverPublic.toBase64(),
    hmacKey: init.hmacKey.toBase64(),
  });
  const argv = [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    new URL(import.meta.url).pathname,
    initText,
  ];
  const full = ns === undefined ? argv : ["ip", "netns", "exec", ns, ...argv];
  const child = new Deno.Command(full[0], {
    args: full.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const waiting = new Map<number, (v: unknown) => void>();
  let nextId = 1;
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const pump = (async () => {
    let buf = "";
    while (true) {
      const { value, done } = await lines.read();
      if (done) break;
      buf += value;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        const msg = JSON.parse(line) as { id: number };
        waiting.get(msg.id)?.(msg);
        waiting.delete(msg.id);
      }
    }
  })();
  const call = async <T>(op: string, body: object): Promise<T> => {
    const id = nextId++;
    const p = new Promise<unknown>((resolve) => waiting.set(id, resolve));
    await writer.write(new TextEncoder().encode(JSON.stringify({ ...body, op, id }) + "\n"));
    return await p as T;
  };
  await call<unknown>("hello", {});
  return {
    send: (c) => call("send", c),
    connect: (c) => call("connect", c),
    knockOpen: (c) => call("knockOpen", c),
    blast: (c) => call("blast", c),
    paced: (c) => call("paced", c),
    pings: (c) => call("pings", c),
    close: async () => {
      await writer.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // gone
        }
      }, 2000);
      await child.status;
      clearTimeout(timer);
      await pump.catch(() => {});
    },
  };
}

// ---------------------------------------------------------------------------------------
// The process side.

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function tcpConnect(host: string, port: number, from: string | undefined, timeoutMs: number) {
  const t0 = performance.now();
  return new Promise<{ ok: boolean; ms: number }>((resolve) => {
    const s = net.connect({ host, port, localAddress: from });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ ok, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

/** Sends one pre-sealed request on `conn` and waits for its ok reply; ms or undefined. */
async function exchange(
  conn: Deno.DatagramConn,
  req: SealedRequest,
  dest: Deno.NetAddr,
  timeoutMs: number,
  state: { pending?: Promise<[Uint8Array, Deno.Addr]> },
): Promise<number | undefined> {
  const t = performance.now();
  await conn.send(req.datagram, dest);
  const deadline = t + timeoutMs;
  while (true) {
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    state.pending ??= conn.receive();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const got = await Promise.race([
      state.pending,
      new Promise<null>((r) => timer = setTimeout(() => r(null), left)),
    ]);
    clearTimeout(timer);
    if (got === null) return undefined;
    state.pending = undefined;
    const r = req.reply.open(got[0]);
    if (r.ok) return r.reply.status === ReplyStatus.Ok ? performance.now() - t : undefined;
  }
}

function summarize(latencies: number[], sent: number, seconds: number): LoadOutcome {
  latencies.sort((a, b) => a - b);
  return {
    sent,
    ok: latencies.length,
    lost: sent - latencies.length,
    seconds,
    okPerSecond: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? NaN,
  };
}

async function serve(init: KnockClientInit): Promise<void> {
  const base = (actionId: number, payload = "", bind?: string): SendOptions => ({
    host: init.host,
    port: init.port,
    serverPublic: init.serverPublic,
    userId: init.userId,
    auth: { kind: "hmac", key: init.hmacKey },
    actionId,
    payload: new TextEncoder().encode(payload),
    bind,
    wait: true,
    timeoutMs: 1500,
    retries: 0,
  });
  const seal = (actionId: number, payload?: string) => sealParts(base(actionId, payload))[0];
  const dest: Deno.NetAddr = { transport: "udp", hostname: init.host, port: init.port };
  // deno-lint-ignore no-explicit-any
  const handlers: Record<string, (c: any) => Promise<unknown>> = {
    hello: () => Promise.resolve({}),
    send: async (c) => {
      const res = await sendRequest({
        ...base(c.actionId, c.payload, c.bind),
        timeoutMs: c.timeoutMs ?? 1500,
        retries: c.retries ?? 0,
      });
      return {
        answered: res.answered,
        status: res.status,
        reason: res.body?.reason,
        data: res.body?.data,
        rttMs: res.rttMs,
      } satisfies SendOutcome;
    },
    connect: (c) => tcpConnect(c.host, c.port, c.from, c.timeoutMs ?? 500),
    knockOpen: async (c) => {
      const req = seal(c.actionId, c.payload);
      const conn = Deno.listenDatagram({ transport: "udp", hostname: c.bind, port: 0 });
      const deadline = c.deadlineMs ?? 3000;
      const t0 = performance.now();
      let openMs: number | undefined;
      const reply = exchange(conn, req, dest, deadline, {});
      const probes: Promise<unknown>[] = [];
      while (openMs === undefined && performance.now() - t0 < deadline) {
        probes.push(
          tcpConnect(c.connectHost, c.connectPort, c.bind, 150).then((r) => {
            if (r.ok && openMs === undefined) openMs = performance.now() - t0;
          }),
        );
        await new Promise((r) => setTimeout(r, c.pollMs ?? 1));
      }
      const replyMs = await reply;
      conn.close();
      await Promise.all(probes);
      return { replyMs, openMs } satisfies KnockOpenOutcome;
    },
    blast: async (c) => {
      const s0 = performance.now();
      const sealed: SealedRequest[] = [];
      for (let i = 0; i < c.count; i++) {
        sealed.push(seal(c.actionId, c.payloads[i % c.payloads.length]));
      }
      const sealPerSecond = c.count / ((performance.now() - s0) / 1000);
      let next = 0;
      let sent = 0;
      const latencies: number[] = [];
      const t0 = performance.now();
      const end = t0 + c.seconds * 1000;
      await Promise.all((c.sources as string[]).map(async (hostname) => {
        const conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
        const state: { pending?: Promise<[Uint8Array, Deno.Addr]> } = {};
        try {
          while (performance.now() < end && next < sealed.length) {
            sent++;
            const ms = await exchange(conn, sealed[next++], dest, c.timeoutMs ?? 1000, state);
            if (ms !== undefined) latencies.push(ms);
          }
        } finally {
          conn.close();
          state.pending?.catch(() => {});
        }
      }));
      return { ...summarize(latencies, sent, (performance.now() - t0) / 1000), sealPerSecond };
    },
    paced: async (c) => {
      const count = Math.ceil(c.rate * c.seconds);
      const sealed: SealedRequest[] = [];
      for (let i = 0; i < count; i++) {
        sealed.push(seal(c.actionId, c.payloads[i % c.payloads.length]));
      }
      const sources = c.sources as string[];
      const free: {
        conn: Deno.DatagramConn;
        state: { pending?: Promise<[Uint8Array, Deno.Addr]> };
      }[] = [];
      const all: { conn: Deno.DatagramConn; state: { pending?: Promise<unknown> } }[] = [];
      for (let i = 0; i < (c.sockets ?? 64); i++) {
        const conn = Deno.listenDatagram({
          transport: "udp",
          hostname: sources[i % sources.length],
          port: 0,
        });
        const sock = { conn, state: {} };
        all.push(sock);
        free.push(sock);
      }
      const latencies: number[] = [];
      const inFlight: Promise<void>[] = [];
      let sent = 0;
      let late = 0;
      const lateMs = c.lateMs ?? 50;
      const gap = 1000 / c.rate;
      const t0 = performance.now();
      try {
        for (let i = 0; i < sealed.length; i++) {
          const wait = t0 + i * gap - performance.now();
          if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
          sent++;
          const sock = free.pop();
          if (sock === undefined) continue; // every socket busy: counts as lost
          inFlight.push(
            exchange(sock.conn, sealed[i], dest, c.timeoutMs ?? 1000, sock.state).then((ms) => {
              if (ms !== undefined) {
                latencies.push(ms);
                if (ms > lateMs) late++;
                free.push(sock);
              } // a socket whose reply never came stays out: a late reply cannot be mistaken
            }),
          );
        }
        const seconds = (performance.now() - t0) / 1000;
        await Promise.all(inFlight);
        return { ...summarize(latencies, sent, seconds), late, offeredPerSecond: sent / seconds };
      } finally {
        for (const s of all) {
          s.conn.close();
          s.state.pending?.catch(() => {});
        }
      }
    },
    pings: async (c) => {
      const sealed: SealedRequest[] = [];
      for (let i = 0; i < c.count; i++) sealed.push(seal(c.actionId));
      const conn = Deno.listenDatagram({
        transport: "udp",
        hostname: c.bind ?? "0.0.0.0",
        port: 0,
      });
      const state: { pending?: Promise<[Uint8Array, Deno.Addr]> } = {};
      const latencies: number[] = [];
      const t0 = performance.now();
      try {
        for (let i = 0; i < sealed.length; i++) {
          const due = t0 + i * c.everyMs;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const ms = await exchange(conn, sealed[i], dest, c.timeoutMs ?? 1000, state);
          if (ms !== undefined) latencies.push(ms);
        }
      } finally {
        conn.close();
        state.pending?.catch(() => {});
      }
      return summarize(latencies, sealed.length, (performance.now() - t0) / 1000);
    },
  };
  const enc = new TextEncoder();
  let buf = "";
  const jobs: Promise<void>[] = [];
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const cmd = JSON.parse(buf.slice(0, nl)) as { op: string; id: number };
      buf = buf.slice(nl + 1);
      jobs.push((async () => {
        let out: unknown;
        try {
          out = await handlers[cmd.op](cmd);
        } catch (err) {
          out = { error: err instanceof Error ? err.message : String(err) };
        }
        Deno.stdout.writeSync(enc.encode(JSON.stringify({ ...out as object, id: cmd.id }) + "\n"));
      })());
    }
  }
  await Promise.all(jobs);
}

if (import.meta.main) {
  const raw = JSON.parse(Deno.args[0]);
  await serve({
    ...raw,
    serverPublic: Uint8Array.fromBase64(raw.serverPublic),
    hmacKey: Uint8Array.fromBase64(raw.hmacKey),
  });
}

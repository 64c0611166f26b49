/**
 * The client's knock before a request, when its profile says so: UDP datagrams or TCP SYNs
 * to a static sequence or to the sequence derived for this user and the current window
 * (`src/stealth/derive.ts`). A derived sequence is not started in the last moments of a
 * window: the client waits for the next one (its clock must agree with the server's).
 * @module
 */
import net from "node:net";
import { randomBytes } from "node:crypto";
import { knockSequence, msToNextWindow, windowOf } from "../stealth/derive.ts";

/** How a client knocks. */
export interface KnockPlan {
  /** Static sequence. */
  ports?: number[];
  /** Derived sequences: the shared secret, knocks per sequence, range and period (ms). */
  derived?: { secret: Uint8Array; length: number; range: [number, number]; periodMs: number };
  /** UDP datagrams or TCP SYNs. */
  proto: "udp" | "tcp";
  /** Wait between two knocks, ms. */
  gapMs: number;
}

/** The ports to knock now for `userId`, and how long to wait before starting. */
export function knockPorts(
  plan: KnockPlan,
  userId: number,
  now: number,
): { ports: number[]; waitMs: number } {
  if (plan.ports) return { ports: plan.ports, waitMs: 0 };
  const d = plan.derived;
  if (!d) throw new Error("knock: give ports or a derived secret");
  // Leave the knocks and the request room inside one window.
  const needed = (d.length + 1) * plan.gapMs + 1000;
  const left = msToNextWindow(now, d.periodMs);
  const waitMs = left < needed ? left + 50 : 0;
  const window = windowOf(now + waitMs, d.periodMs);
  return { ports: knockSequence(d.secret, userId, window, d.length, d.range), waitMs };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One TCP SYN to `port` (the attempt is abandoned after `ms`: no retransmission). */
function syn(host: string, port: number, bind: string | undefined, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, localAddress: bind });
    const done = () => {
      s.destroy();
      resolve();
    };
    s.on("error", done);
    s.on("connect", done);
    setTimeout(done, ms);
  });
}

/** Knocks `ports` on `host` in order, from `bind` (default any address). */
export async function sendKnocks(
  host: string,
  ports: readonly number[],
  proto: "udp" | "tcp",
  gapMs: number,
  bind?: string,
): Promise<void> {
  const v6 = host.includes(":");
  const conn = proto === "udp"
    ? Deno.listenDatagram({ transport: "udp", hostname: bind ?? (v6 ? "::" : "0.0.0.0"), port: 0 })
    : undefined;
  try {
    for (const [i, port] of ports.entries()) {
      if (i > 0) await sleep(gapMs);
      if (conn) {
        const n = 1 + (randomBytes(1)[0] % 32);
        await conn.send(new Uint8Array(randomBytes(n)), { transport: "udp", hostname: host, port });
      } else {
        await syn(host, port, bind, Math.max(20, Math.min(gapMs, 200)));
      }
    }
    await sleep(gapMs);
  } finally {
    conn?.close();
  }
}

/** Knocks as `plan` says for `userId` before a request to `host`; returns the ports knocked. */
export async function knock(
  host: string,
  plan: KnockPlan,
  userId: number,
  opts: { bind?: string; clock?: () => number } = {},
): Promise<number[]> {
  const now = (opts.clock ?? Date.now)();
  const { ports, waitMs } = knockPorts(plan, userId, now);
  if (waitMs > 0) await sleep(waitMs);
  await sendKnocks(host, ports, plan.proto, plan.gapMs, opts.bind);
  return ports;
}

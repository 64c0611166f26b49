/**
 * The keep-open loop behind `siglatch open`: ask for a grant, re-send before it lapses,
 * revoke at the end. Pure over an injected `send`, so it is tested without a network.
 * @module
 */
import { formatDuration } from "../config/duration.ts";

/** One request's outcome as the loop sees it. */
export interface OpenAttempt {
  /** A reply arrived. */
  answered: boolean;
  /** The action succeeded. */
  ok: boolean;
  /** Why not (status name and reason). */
  reason?: string;
  /** The reply's data (a firewall reply: address, ports, expires_in, keepalive, renewed). */
  data?: unknown;
}

/** What the loop needs; `send` is the only I/O (tests give their own). */
export interface OpenLoopOptions {
  /** Sends a request for an action id with a payload. */
  send: (actionId: number, payload: Uint8Array) => Promise<OpenAttempt>;
  /** The grant action. */
  actionId: number;
  /** The revoke action, if the profile names one. */
  revokeActionId?: number;
  /** Payload of the grant (an address, or empty). */
  payload: Uint8Array;
  /** Stop (and revoke) after this long (ms). */
  forMs?: number;
  /** Re-send interval (ms); default: half of the keepalive or of the time left. */
  everyMs?: number;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  /** Output (one line each). */
  log: (line: string) => void;
  /** Clock (ms). */
  clock?: () => number;
}

interface GrantData {
  address?: string;
  ports?: string[];
  expires_in?: number;
  keepalive?: number;
  renewed?: boolean;
}

function grantData(res: OpenAttempt): GrantData {
  const d = res.data;
  return d && typeof d === "object" ? d as GrantData : {};
}

function ok(res: OpenAttempt): boolean {
  return res.answered && res.ok;
}

function why(res: OpenAttempt): string {
  return res.answered ? res.reason ?? "refused" : "no reply";
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The keep-open loop; returns the exit status. */
export async function runOpen(o: OpenLoopOptions): Promise<number> {
  const clock = o.clock ?? Date.now;
  const started = clock();
  const stopAt = o.forMs === undefined ? Infinity : started + o.forMs;
  const first = await o.send(o.actionId, o.payload);
  if (!ok(first)) {
    o.log(`siglatch: open refused: ${why(first)}`);
    return first.answered ? 1 : 3;
  }
  let data = grantData(first);
  let lapsesAt = clock() + (data.expires_in ?? 0);
  o.log(
    `open: ${data.address ?? "?"} ${(data.ports ?? []).join(",")} for ${
      formatDuration(data.expires_in ?? 0)
    }`,
  );
  let status = 0;
  while (!o.signal.aborted && clock() < stopAt) {
    const period = o.everyMs ??
      Math.max(1000, Math.min(data.keepalive ?? Infinity, data.expires_in ?? 0) / 2);
    await wait(Math.min(period, stopAt - clock()), o.signal);
    if (o.signal.aborted || clock() >= stopAt) break;
    const res = await o.send(o.actionId, o.payload);
    if (ok(res)) {
      data = grantData(res);
      lapsesAt = clock() + (data.expires_in ?? 0);
      const left = o.forMs === undefined
        ? ""
        : `, ${formatDuration(stopAt - clock())} of --for left`;
      o.log(`renewed: ${formatDuration(data.expires_in ?? 0)} left${left}`);
    } else if (clock() >= lapsesAt) {
      o.log(`siglatch: the grant lapsed (${why(res)})`);
      status = 1;
      break;
    } else {
      o.log(`renewal failed (${why(res)}), ${formatDuration(lapsesAt - clock())} left; retrying`);
      data = { ...data, keepalive: undefined, expires_in: 2000 }; // retry soon
    }
  }
  if (o.revokeActionId !== undefined) {
    const res = await o.send(o.revokeActionId, new Uint8Array());
    o.log(ok(res) ? "revoked" : `siglatch: revoke failed (${why(res)}); the grant ends on its own`);
    if (!ok(res)) status = 1;
  } else {
    o.log(
      `closing: no revoke action in the profile; the grant ends in ${
        formatDuration(Math.max(0, lapsesAt - clock()))
      }`,
    );
  }
  return status;
}

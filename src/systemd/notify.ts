/**
 * sd_notify without libsystemd: a datagram to the Unix socket in `NOTIFY_SOCKET` saying
 * `READY=1`, `RELOADING=1` (with `MONOTONIC_USEC`), `STOPPING=1` or `WATCHDOG=1`
 * (sd_notify(3)). Deno sends a Unix datagram only from a bound socket, so each message
 * binds a socket in a fresh private temporary directory and removes it again.
 *
 * Under privilege separation the network part cannot reach the socket (and systemd
 * listens to the main process only): it asks the privileged part, which checks the text
 * with {@linkcode validNotifyState} and sends it.
 * @module
 */
import { join } from "node:path";
import { libcPath } from "../net/sockopt.ts";

/** Sends one notification; resolves false when there is nobody to tell. */
export type NotifySend = (state: string) => Promise<boolean>;

const encoder = new TextEncoder();
/** Longest wait for one notification to be taken (ms). */
const SEND_MS = 2000;

/** The lines a notification may carry (what the network part may ask the privileged part). */
const ALLOWED_LINE =
  /^(?:READY=1|RELOADING=1|STOPPING=1|WATCHDOG=1|MONOTONIC_USEC=\d{1,20}|STATUS=[^\p{Cc}]{0,200})$/u;

/** True when `state` is one to four allowed lines. */
export function validNotifyState(state: unknown): state is string {
  if (typeof state !== "string" || state.length > 300) return false;
  const lines = state.split("\n");
  return lines.length <= 4 && lines.every((l) => ALLOWED_LINE.test(l));
}

/** The socket a daemon binds to send from: next to its admin socket (a path it may write). */
export function notifyBindPath(adminSocket: string): string {
  return `${adminSocket}.notify`;
}

/** Sends queued one after another (they share one bind path). */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Sends `state` to `NOTIFY_SOCKET` (or `opts.target`) from a socket bound at `opts.bind`
 * (default: in a fresh temporary directory); false when there is no socket or it is
 * abstract (`@name`, which Deno cannot address).
 */
export function sdNotify(
  state: string,
  opts: { target?: string; bind?: string } = {},
): Promise<boolean> {
  const run = queue.then(() => send(state, opts));
  queue = run.catch(() => {});
  return run;
}

async function send(state: string, opts: { target?: string; bind?: string }): Promise<boolean> {
  let target = opts.target;
  if (target === undefined) {
    try {
      target = Deno.env.get("NOTIFY_SOCKET");
    } catch {
      return false;
    }
  }
  if (!target || !target.startsWith("/")) return false;
  const dir = opts.bind ? undefined : await Deno.makeTempDir({ prefix: "siglatch-notify-" });
  const path = opts.bind ?? join(dir!, "s");
  try {
    await Deno.remove(path).catch(() => {});
    const conn = Deno.listenDatagram({ transport: "unixpacket", path });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // A receiver that does not read must not stall the daemon: give up after a while.
      return await Promise.race([
        conn.send(encoder.encode(state), { transport: "unixpacket", path: target }).then(() =>
          true
        ),
        new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), SEND_MS)),
      ]);
    } finally {
      clearTimeout(timer);
      conn.close();
    }
  } finally {
    await Deno.remove(dir ?? path, { recursive: true }).catch(() => {});
  }
}

let clockGettime:
  | Deno.DynamicLibrary<{ clock_gettime: { parameters: ["i32", "buffer"]; result: "i32" } }>
  | null
  | undefined;

/** CLOCK_MONOTONIC in microseconds through libc (undefined without FFI). */
export function monotonicUsec(): bigint | undefined {
  if (clockGettime === undefined) {
    clockGettime = null;
    const path = libcPath();
    if (path) {
      try {
        clockGettime = Deno.dlopen(path, {
          clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
        });
      } catch {
        // no FFI permission: RELOADING goes without MONOTONIC_USEC
      }
    }
  }
  if (!clockGettime) return undefined;
  const ts = new BigInt64Array(2);
  if (clockGettime.symbols.clock_gettime(1, ts) !== 0) return undefined;
  return ts[0] * 1_000_000n + ts[1] / 1000n;
}

/**
 * The watchdog interval systemd asks for, in µs (`WATCHDOG_USEC`, when `WATCHDOG_PID` is
 * unset or this process), or what the privileged part passed on.
 */
export function watchdogUsec(): number | undefined {
  try {
    const passed = Deno.env.get("SIGLATCH_WATCHDOG_USEC");
    const usec = Number(passed ?? Deno.env.get("WATCHDOG_USEC") ?? "");
    const pid = Deno.env.get("WATCHDOG_PID");
    if (passed === undefined && pid !== undefined && Number(pid) !== Deno.pid) return undefined;
    return Number.isFinite(usec) && usec > 0 ? usec : undefined;
  } catch {
    return undefined;
  }
}

/** The daemon's lifecycle notifications. */
export class Notifier {
  readonly #send: NotifySend;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  /** Creates a notifier over `send`. */
  constructor(send: NotifySend) {
    this.#send = send;
  }

  #tell(state: string): Promise<boolean> {
    return this.#send(state).catch(() => false);
  }

  /** `READY=1` (also after a reload). */
  ready(status = "serving"): Promise<boolean> {
    return this.#tell(`READY=1\nSTATUS=${status}`);
  }

  /** `RELOADING=1` with the monotonic clock. */
  reloading(): Promise<boolean> {
    const usec = monotonicUsec();
    return this.#tell(`RELOADING=1${usec === undefined ? "" : `\nMONOTONIC_USEC=${usec}`}`);
  }

  /**
   * Runs `reload` between `RELOADING=1` and `READY=1` (READY also when it failed: the old
   * config keeps serving). Every reload goes through this: SIGHUP, the socket, the web.
   */
  async aroundReload<T>(reload: () => Promise<T>): Promise<T> {
    await this.reloading();
    try {
      return await reload();
    } finally {
      await this.ready();
    }
  }

  /** `STOPPING=1`; stops the watchdog pings. */
  stopping(): Promise<boolean> {
    clearInterval(this.#watchdog);
    return this.#tell("STOPPING=1");
  }

  /** Pings the watchdog at half of `usec` while the event loop runs. */
  startWatchdog(usec: number | undefined): void {
    if (!usec) return;
    const ms = Math.max(100, Math.floor(usec / 2000));
    this.#watchdog = setInterval(() => this.#tell("WATCHDOG=1"), ms);
    Deno.unrefTimer(this.#watchdog);
  }
}

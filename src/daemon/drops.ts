/**
 * Drop accounting: every refused datagram is counted by reason; log lines about them are
 * rate-limited (a flood must not become a log flood) and say how many were suppressed.
 * @module
 */
import { DropLogLimiter, logger } from "../util/log.ts";

/** Counts and (rate-limited) logs refused datagrams. */
export class Drops {
  readonly #limiter: DropLogLimiter;
  readonly #count: (name: string) => void;
  readonly #clock: () => number;
  readonly #log = logger("daemon");

  /** Creates the drop log: at most `perSecond` lines per second. */
  constructor(perSecond: number, count: (name: string) => void, clock: () => number) {
    this.#limiter = new DropLogLimiter(perSecond);
    this.#count = count;
    this.#clock = clock;
  }

  /** Records one refused datagram from `from` for `reason`. */
  drop(reason: string, from: Deno.NetAddr, extra: Record<string, unknown> = {}): void {
    this.#count(`drop_${reason}`);
    this.#count("dropped");
    const suppressed = this.#limiter.take(this.#clock());
    if (suppressed < 0) return;
    this.#log.info("rejected reason={reason} src={ip} port={port}", {
      decision: "rejected",
      reason,
      ip: from.hostname,
      port: from.port,
      suppressed,
      ...extra,
    });
  }
}

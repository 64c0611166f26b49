/**
 * Dead drops: a datagram that is no structured packet but starts with a configured prefix
 * goes, raw, to that drop's exec handler (no key needed: the prefix is the only secret).
 * Nothing about the sender is proven, so a drop gets less than a user: its own small pool
 * and queue (a flood of drops can never make a user's request `busy`; a full queue drops),
 * an unprivileged user by default (see `DeadDropRuntime.runAs`), rate-limited log lines,
 * and nothing when its handler is disabled in the config or at runtime.
 * @module
 */
import { DropLogLimiter, logger } from "../util/log.ts";
import { Limiter, QueueFullError } from "../actions/limiter.ts";
import type { ActionRunner } from "../actions/runner.ts";
import { runAsText } from "../actions/handler.ts";
import type { Runtime, ServerRuntime } from "./runtime.ts";
import type { InFlight } from "./inflight.ts";

/** What dead drops need from the daemon. */
export interface DeadDropOptions {
  /** The current runtime. */
  runtime: () => Runtime;
  /** Handlers running at once (`execution.deaddrop_concurrent`). */
  concurrent: number;
  /** Drops waiting (`execution.deaddrop_queue`). */
  queue: number;
  /** Log lines per second about drops (`logging.drop_log_rate`). */
  logRate: number;
  /** True when the handler action is disabled at runtime. */
  disabled: (actionName: string) => boolean;
  /** Tracks the runs so a stop can wait for them. */
  inflight: InFlight;
  /** Runs the handler by name (here, or in the privileged part). */
  runner: ActionRunner;
  /** Adds to a daemon counter. */
  count: (name: string) => void;
  /** Log the plan, run nothing. */
  dryRun: boolean;
}

/** Routes raw datagrams to dead-drop handlers by prefix. */
export class DeadDrops {
  readonly #opts: DeadDropOptions;
  readonly #log = logger("daemon");
  /** The drops' own pool: never shared with users' requests. */
  readonly limiter: Limiter;
  readonly #logLimit: DropLogLimiter;
  readonly #clock = Date.now;

  /** Creates the router. */
  constructor(opts: DeadDropOptions) {
    this.#opts = opts;
    this.limiter = new Limiter(opts.concurrent, opts.queue);
    this.#logLimit = new DropLogLimiter(opts.logRate);
  }

  /** Applies reloaded pool sizes. */
  resize(concurrent: number, queue: number): void {
    this.limiter.max = concurrent;
    this.limiter.queue = queue;
  }

  /**
   * Hands `data` to the longest matching drop of `server`; false when none matches or its
   * handler is disabled (the caller then treats the datagram as any failed one).
   */
  take(server: ServerRuntime, data: Uint8Array, from: Deno.NetAddr): boolean {
    const drop = server.deadDrops.find((d) =>
      d.prefix.length <= data.length && d.prefix.every((b, i) => data[i] === b)
    );
    if (!drop) return false;
    const action = this.#opts.runtime().actions.get(drop.handlerId);
    if (!action || action.config.type !== "exec" || !action.config.enabled) return false;
    if (this.#opts.disabled(action.config.name)) return false;
    const { count } = this.#opts;
    count("deaddrop");
    const suppressed = this.#logLimit.take(this.#clock());
    if (suppressed >= 0) {
      this.#log.info("deaddrop={drop} src={ip} port={port} bytes={bytes}", {
        decision: "deaddrop",
        drop: drop.name,
        ip: from.hostname,
        port: from.port,
        bytes: data.length,
        suppressed,
      });
    }
    const env = {
      SIGLATCH_DEADDROP: drop.name,
      SIGLATCH_ACTION: action.config.name,
      SIGLATCH_SERVER: server.config.name,
      SIGLATCH_SOURCE_IP: from.hostname,
      SIGLATCH_SOURCE_PORT: String(from.port),
      SIGLATCH_PAYLOAD_B64: data.toBase64(),
    };
    if (this.#opts.dryRun) {
      count("dry_run");
      this.#log.info("dry-run: would run deaddrop={drop} argv={argv} as {runAs}", {
        decision: "dry_run",
        drop: drop.name,
        argv: action.config.command,
        runAs: runAsText({ ...action, runAs: drop.runAs }),
      });
      return true;
    }
    const job = this.limiter.run(() =>
      this.#opts.runner.run({
        kind: "deaddrop",
        actionId: action.config.id,
        drop: drop.name,
        env,
        stdin: data,
      })
    ).catch((err) =>
      count(err instanceof QueueFullError ? "deaddrop_queue_full" : "deaddrop_errors")
    );
    this.#opts.inflight.track(job);
    return true;
  }
}

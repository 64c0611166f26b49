/**
 * Dead drops: a datagram that is no structured packet but starts with a configured prefix
 * goes, raw, to that drop's exec handler (no key needed: the prefix is the only secret).
 * @module
 */
import { logger } from "../util/log.ts";
import { runExec } from "../actions/exec.ts";
import type { Limiter } from "../actions/limiter.ts";
import { runAsText } from "../actions/handler.ts";
import type { Runtime, ServerRuntime } from "./runtime.ts";
import type { InFlight } from "./inflight.ts";

/** What dead drops need from the daemon. */
export interface DeadDropOptions {
  /** The current runtime. */
  runtime: () => Runtime;
  /** Bounds concurrent runs. */
  limiter: Limiter;
  /** Tracks the runs so a stop can wait for them. */
  inflight: InFlight;
  /** Aborted at shutdown. */
  signal: AbortSignal;
  /** Adds to a daemon counter. */
  count: (name: string) => void;
  /** Log the plan, run nothing. */
  dryRun: boolean;
}

/** Routes raw datagrams to dead-drop handlers by prefix. */
export class DeadDrops {
  readonly #opts: DeadDropOptions;
  readonly #log = logger("daemon");

  /** Creates the router. */
  constructor(opts: DeadDropOptions) {
    this.#opts = opts;
  }

  /** Hands `data` to the longest matching drop of `server`; false when none matches. */
  take(server: ServerRuntime, data: Uint8Array, from: Deno.NetAddr): boolean {
    const drop = server.deadDrops.find((d) =>
      d.prefix.length <= data.length && d.prefix.every((b, i) => data[i] === b)
    );
    if (!drop) return false;
    const action = this.#opts.runtime().actions.get(drop.handlerId);
    if (!action || action.config.type !== "exec" || !action.config.enabled) return false;
    const { count } = this.#opts;
    count("deaddrop");
    this.#log.info("deaddrop={drop} src={ip} port={port} bytes={bytes}", {
      decision: "deaddrop",
      drop: drop.name,
      ip: from.hostname,
      port: from.port,
      bytes: data.length,
    });
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
        runAs: runAsText(action),
      });
      return true;
    }
    const job = this.#opts.limiter.run(() =>
      runExec({
        argv: action.config.command!,
        env,
        stdin: data,
        uid: action.runAs?.uid,
        gid: action.runAs?.gid,
        timeoutMs: action.config.timeout,
        outputCap: action.config.output_cap,
        signal: this.#opts.signal,
      })
    ).catch(() => count("queue_full"));
    this.#opts.inflight.track(job);
    return true;
  }
}

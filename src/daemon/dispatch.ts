/**
 * Dispatch: an allowed request becomes durable (its nonce), takes a use (`max_uses`,
 * `max_uses_per_day`: only a request that runs keeps it, `usage.ts`), and runs through the
 * handler of its action type; the outcome goes back as a reply.
 * In a dry run nothing is written and nothing runs: the handler's plan is logged.
 * @module
 */
import { logger } from "../util/log.ts";
import type { StateStore } from "../state/store.ts";
import type { ActionConfig } from "../config/schema.ts";
import { QueueFullError } from "../actions/limiter.ts";
import type { ActionHandler, ActionOutcome, ActionRequest } from "../actions/handler.ts";
import { ReplyStatus } from "../wire/mod.ts";
import type { NonceBatcher } from "./nonces.ts";
import { MAX_REPLY_DATAGRAM, type Replies, type ReplyTarget } from "./replies.ts";
import type { RetryCache } from "./retries.ts";
import type { Drops } from "./drops.ts";
import { UseLedger, type UseReservation } from "./usage.ts";

/** Reasons of an outcome whose action did not run (its use is given back). */
const NOT_RUN = new Set(["spawn_failed", "internal_error", "busy"]);

/** True when the action ran (a use counts): not busy, dry, refused or unable to start. */
function ran(outcome: ActionOutcome): boolean {
  if (outcome.status === ReplyStatus.Ok || outcome.status === ReplyStatus.Relayed) return true;
  if (outcome.status !== ReplyStatus.Error) return false;
  const reason = (outcome.body as { reason?: unknown } | undefined)?.reason;
  if (typeof reason !== "string") return true;
  return !NOT_RUN.has(reason) && !reason.startsWith("action_type_unavailable");
}

/** One handler per action type; a type without one is answered `action_type_unavailable`. */
export type HandlerTable = Partial<Record<ActionConfig["type"], ActionHandler>>;

/** An allowed request on its way to a handler. */
export interface Dispatched extends ActionRequest {
  /** Where and how to answer. */
  reply: ReplyTarget;
  /** Epoch ms until which the nonce must be remembered. */
  nonceExpiresAt: number;
  /** The nonce. */
  nonce: Uint8Array;
  /** Same on every retry of one request (absent: no retry cache). */
  retryId?: Uint8Array;
}

/** What the dispatcher needs. */
export interface DispatcherOptions {
  /** Handlers by action type. */
  handlers: HandlerTable;
  /** The state store (use counters). */
  store: StateStore;
  /** Durable nonces; absent in a dry run (nothing is written). */
  nonces?: NonceBatcher;
  /** Final replies by retry id; absent in a dry run. */
  retries?: RetryCache;
  /** Sends replies. */
  replies: Replies;
  /** Counts and logs refusals. */
  drops: Drops;
  /** Adds to a daemon counter. */
  count: (name: string) => void;
  /** Told each accepted request's outcome and seconds from accept to outcome (metrics). */
  observe?: (user: string, action: string, status: number, seconds: number) => void;
}

/** Runs allowed requests through the handler table. */
/** Read-only or replay-safe: answered before the nonce is durable, with no retry entry. */
function skipsDurability(handler: ActionHandler | undefined, req: ActionRequest): boolean {
  return handler?.readOnly?.(req) === true || handler?.replaySafe?.(req) === true;
}

export class Dispatcher {
  readonly #opts: DispatcherOptions;
  readonly #log = logger("daemon");
  readonly #uses: UseLedger;

  /** Creates the dispatcher. */
  constructor(opts: DispatcherOptions) {
    this.#opts = opts;
    this.#uses = new UseLedger(opts.store);
  }

  /** True in a dry run. */
  get dryRun(): boolean {
    return this.#opts.nonces === undefined;
  }

  /** Refuses an authenticated request: logged, and answered when `explain`. */
  refuse(
    reply: ReplyTarget,
    reason: string,
    explain: boolean,
    who: { user: string; action: string | number },
  ): void {
    this.#opts.drops.drop(reason, reply.to, who);
    if (explain) this.#opts.replies.send(reply, ReplyStatus.Denied, { reason });
  }

  /** Makes the request durable, runs it and replies. Never throws. */
  async accept(req: Dispatched, explain: boolean): Promise<void> {
    const { count } = this.#opts;
    const t0 = performance.now();
    const handler = this.#opts.handlers[req.action.config.type];
    const retries = skipsDurability(handler, req) ? undefined : this.#opts.retries;
    // The nonce and the retry id go to the store together (one batch commit, not two in a
    // row); nothing runs before both are durable.
    const claimed = this.#claim(req, handler);
    const begun = retries && req.retryId
      ? retries.begin(req.user.config.id, req.retryId, req.nonceExpiresAt).then(
        (state) => ({ state }),
        (err: unknown) => ({ err }),
      )
      : undefined;
    if (!(await claimed)) {
      const b = await begun;
      if (b && "state" in b && b.state.kind === "new") {
        retries!.abandon(req.user.config.id, req.retryId!);
      }
      return;
    }
    if (retries && req.retryId && begun) {
      const b = await begun;
      if ("err" in b) {
        retries.abandon(req.user.config.id, req.retryId);
        count("state_errors");
        this.#log.error("state store failed, refusing request: {err}", { err: String(b.err) });
        return;
      }
      const state = b.state;
      if (state.kind === "running") return this.#opts.drops.drop("retry_in_progress", req.reply.to);
      if (state.kind === "done") {
        // A retry of a request that ran: its reply again, the action not again.
        count("retries_answered");
        const r = state.reply;
        const output = r.output === undefined ? undefined : Uint8Array.fromBase64(r.output);
        this.#opts.replies.send(req.reply, r.status, r.body, output, r.exitCode);
        return;
      }
    }
    let use: UseReservation | undefined;
    if (!this.dryRun) {
      let taken;
      try {
        taken = await this.#uses.reserve(req.user.config);
      } catch (err) {
        count("state_errors");
        this.#log.error("state store failed, refusing request: {err}", { err: String(err) });
        if (retries && req.retryId) retries.abandon(req.user.config.id, req.retryId);
        return;
      }
      if (typeof taken === "string") {
        if (retries && req.retryId) retries.abandon(req.user.config.id, req.retryId);
        return this.refuse(req.reply, taken, explain, {
          user: req.user.config.name,
          action: req.action.config.name,
        });
      }
      use = taken;
    }
    count("accepted");
    this.#log.info(
      "accepted user={user} action={action} src={ip} port={port} request={request}",
      {
        decision: "accepted",
        user: req.user.config.name,
        action: req.action.config.name,
        ip: req.from.hostname,
        port: req.from.port,
        request: req.requestId,
      },
    );
    const outcome = await this.#run(req, handler);
    if (use) {
      (ran(outcome) ? use.commit() : use.release()).catch(() => count("state_errors"));
    }
    const seconds = (performance.now() - t0) / 1000;
    this.#opts.observe?.(req.user.config.name, req.action.config.name, outcome.status, seconds);
    if (retries && req.retryId) {
      if (outcome.status === ReplyStatus.Busy) retries.abandon(req.user.config.id, req.retryId);
      else {
        retries.finish(req.user.config.id, req.retryId, {
          status: outcome.status,
          exitCode: outcome.exitCode ?? 0,
          body: outcome.body as Record<string, unknown>,
          output: outcome.output?.subarray(0, MAX_REPLY_DATAGRAM).toBase64(),
        }).catch(() => count("state_errors"));
      }
    }
    if (!outcome.silent && (req.action.config.reply || outcome.status !== ReplyStatus.Ok)) {
      this.#opts.replies.send(
        req.reply,
        outcome.status,
        outcome.body,
        outcome.output,
        outcome.exitCode ?? 0,
      );
    }
  }

  /**
   * Runs one command of a session (`session_path.ts`): authenticated by the session key and
   * fresh by the session's replay window, so there is no nonce to make durable, and the
   * session keeps its own results for retries. Counts `max_uses` like a request. Never throws.
   */
  async runCommand(req: ActionRequest): Promise<ActionOutcome> {
    const { count } = this.#opts;
    const cfg = req.user.config;
    if (cfg.max_uses !== undefined && !this.dryRun) {
      try {
        if (await this.#opts.store.increment("uses", String(cfg.id), 1) > cfg.max_uses) {
          this.#opts.drops.drop("max_uses_reached", { transport: "udp", ...req.from });
          return { status: ReplyStatus.Denied, body: { reason: "max_uses_reached" } };
        }
      } catch {
        count("state_errors");
        return { status: ReplyStatus.Error, body: { reason: "internal_error" } };
      }
    }
    count("accepted");
    count("session_commands");
    // A builtin in a session (a ping, a listing: nothing changes) is logged at debug level,
    // one info line per command cost a quarter of the session path (the session's opening is
    // logged at info); every other action type at info, as a request.
    const what = "accepted user={user} action={action} src={ip} port={port} request={request}";
    const fields = {
      decision: "accepted",
      user: cfg.name,
      action: req.action.config.name,
      ip: req.from.hostname,
      port: req.from.port,
      request: req.requestId,
    };
    if (req.action.config.type === "builtin") this.#log.debug(what, fields);
    else this.#log.info(what, fields);
    return await this.#run(req, this.#opts.handlers[req.action.config.type]);
  }

  /**
   * Durable before anything runs: a replay after a crash or restart must be refused.
   * Read-only requests change nothing, so they answer at once and their nonce commits in
   * the background (a graceful stop flushes it; after a kill -9 only such a read-only
   * request from the last few ms could be answered again, with a reply sealed to the
   * original client and no larger than the replayed packet). A dry run writes nothing.
   */
  async #claim(req: Dispatched, handler: ActionHandler | undefined): Promise<boolean> {
    const { nonces, count } = this.#opts;
    if (!nonces) return true;
    const background = skipsDurability(handler, req);
    const claim = nonces.claim(req.nonce, req.nonceExpiresAt, !background);
    if (background) {
      claim.then(
        (fresh) => fresh || count("replay_cluster_read_only"),
        () => count("state_errors"),
      );
      return true;
    }
    try {
      if (await claim) return true;
      this.#opts.drops.drop("replay_cluster", req.reply.to);
    } catch (err) {
      count("state_errors");
      this.#log.error("state store failed, refusing request: {err}", { err: String(err) });
    }
    return false;
  }

  async #run(req: ActionRequest, handler: ActionHandler | undefined): Promise<ActionOutcome> {
    const a = req.action.config;
    if (!handler) {
      return { status: ReplyStatus.Error, body: { reason: `action_type_unavailable:${a.type}` } };
    }
    if (this.dryRun && !handler.readOnly?.(req)) {
      this.#opts.count("dry_run");
      this.#log.info("dry-run: would run action={action} type={type}: {plan}", {
        decision: "dry_run",
        action: a.name,
        type: a.type,
        user: req.user.config.name,
        plan: handler.plan(req),
        ...(req.user.config.max_uses !== undefined ? { would_count_use: true } : {}),
      });
      return { status: ReplyStatus.DryRun, body: { dry: true } };
    }
    try {
      return await handler.run(req);
    } catch (err) {
      if (err instanceof QueueFullError) {
        this.#opts.count("queue_full");
        return { status: ReplyStatus.Busy, body: { reason: "busy" } };
      }
      this.#opts.count("action_errors");
      this.#log.error("action {action} failed: {err}", { action: a.name, err: String(err) });
      return { status: ReplyStatus.Error, body: { reason: "internal_error" } };
    }
  }
}

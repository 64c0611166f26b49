/**
 * The handler of `type: exec` actions: renew a live keepalive session, or run the command
 * (bounded concurrency) and arm its destructor after it succeeded.
 * @module
 */
import { logger } from "../util/log.ts";
import { ReplyStatus } from "../wire/mod.ts";
import type { ReplyBody } from "../wire/reply_body.ts";
import type { ActionRunner } from "./runner.ts";
import type { Limiter } from "./limiter.ts";
import type { ActionSessions, SessionRequest } from "./sessions.ts";
import { type ActionHandler, type ActionRequest, requestEnv, runAsText } from "./handler.ts";

/** What the exec handler needs. */
export interface ExecDeps {
  /** Bounds concurrent runs (refuses with `QueueFullError` when full). */
  limiter: Limiter;
  /** Runs the action by name (here, or in the privileged part). */
  runner: ActionRunner;
  /** Keepalive sessions (absent in a dry run). */
  sessions: () => ActionSessions | undefined;
}

/**
 * The session view of a request (keepalive timers). What a destructor runs is not in it:
 * the timer names action, user and source, and the config gives the rest when it fires.
 */
export function sessionRequest(req: ActionRequest): SessionRequest {
  return {
    action: req.action.config,
    userId: req.user.config.id,
    user: req.user.config.name,
    source: req.ip,
    payload: req.payload,
    server: req.server,
    sourcePort: req.from.port,
    requestId: /^[0-9a-f]{32}$/.test(req.requestId) ? req.requestId : undefined,
  };
}

/** The handler of `type: exec` actions. */
export function execHandler(deps: ExecDeps): ActionHandler {
  const log = logger("daemon");
  return {
    plan: (req) => ({
      argv: req.action.config.command,
      run_as: runAsText(req.action),
      cwd: req.action.config.working_dir,
      timeout_ms: req.action.config.timeout,
      stdin_bytes: req.payload.length,
      env: requestEnv(req),
    }),
    async run(req) {
      const a = req.action.config;
      const env = requestEnv(req);
      const sreq = sessionRequest(req);
      const sessions = deps.sessions();
      const renewed = await sessions?.renew(sreq);
      if (renewed) {
        return {
          status: ReplyStatus.Ok,
          body: { data: { renewed: true, deadline: renewed.deadline } },
        };
      }
      const res = await deps.limiter.run(() =>
        deps.runner.run({
          kind: "action",
          actionId: a.id,
          userId: req.user.config.id,
          env,
          stdin: req.payload,
        }, req.onOutput)
      );
      if (res.exitCode === 0 && !res.spawnError && !res.timedOut) {
        await sessions?.armAfterConstructor(sreq);
      }
      let status: number;
      let body: ReplyBody;
      if (res.spawnError) {
        status = ReplyStatus.Error;
        body = { reason: "spawn_failed" };
        log.error("action {action} could not start: {err}", {
          action: a.name,
          err: res.spawnError,
        });
      } else if (res.timedOut) {
        status = ReplyStatus.Error;
        body = { reason: "timeout", cut: res.truncated };
      } else {
        status = res.exitCode === 0 ? ReplyStatus.Ok : ReplyStatus.Error;
        body = { cut: res.truncated };
        if (res.exitCode !== 0 && res.stderr.length > 0) {
          body.err = new TextDecoder().decode(res.stderr.subarray(-200));
        }
      }
      log.info("finished action={action} user={user} exit={exit} ms={ms}", {
        action: a.name,
        user: req.user.config.name,
        exit: res.exitCode,
        ms: Math.round(res.durationMs),
        timedOut: res.timedOut,
        truncated: res.truncated,
        request: req.requestId,
      });
      return { status, body, output: res.stdout, exitCode: res.exitCode };
    },
  };
}

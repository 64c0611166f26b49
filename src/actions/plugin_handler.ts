/**
 * The handler of `type: plugin` actions: the exec handler's path (bounded concurrency, run
 * by name through the runner, keepalive sessions), with a plan that names the plugin. The
 * runner resolves the plugin as loaded at start or at the last reload (src/plugins/).
 * @module
 */
import { logger } from "../util/log.ts";
import { ReplyStatus } from "../wire/mod.ts";
import { type ExecDeps, execHandler } from "./exec_handler.ts";
import { type ActionHandler, requestEnv, runAsText } from "./handler.ts";
import { QueueFullError } from "./limiter.ts";

/** The handler of `type: plugin` actions. */
export function pluginHandler(deps: ExecDeps): ActionHandler {
  const exec = execHandler(deps);
  const log = logger("daemon");
  return {
    async run(req) {
      try {
        return await exec.run(req);
      } catch (err) {
        if (err instanceof QueueFullError) throw err;
        // The runner refused: the plugin is not loaded, or the action does not fit it.
        // The client learns only that; the log names file and field.
        log.error("plugin action {action} cannot run: {err}", {
          action: req.action.config.name,
          err: err instanceof Error ? err.message : String(err),
        });
        return { status: ReplyStatus.Error, body: { reason: "plugin_unavailable" } };
      }
    },
    plan: (req) => ({
      plugin: req.action.config.plugin?.name,
      plugin_action: req.action.config.plugin?.action,
      run_as: runAsText(req.action),
      timeout_ms: req.action.config.timeout,
      stdin_bytes: req.payload.length,
      env: requestEnv(req),
    }),
  };
}

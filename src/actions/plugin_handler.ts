/**
 * The handler of `type: plugin` actions: the exec handler's path (bounded concurrency, run
 * by name through the runner, keepalive sessions), with a plan that names the plugin. The
 * runner resolves the plugin as loaded at start or at the last reload (src/plugins/).
 * @module
 */
import { type ExecDeps, execHandler } from "./exec_handler.ts";
import { type ActionHandler, requestEnv, runAsText } from "./handler.ts";

/** The handler of `type: plugin` actions. */
export function pluginHandler(deps: ExecDeps): ActionHandler {
  const exec = execHandler(deps);
  return {
    run: (req) => exec.run(req),
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

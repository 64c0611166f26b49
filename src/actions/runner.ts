/**
 * Running an exec action by NAME, never by argv: a request says which action, for which
 * user (or which dead drop), with what environment and stdin; the runner looks up argv,
 * run_as, working dir, timeout and output cap in its own config and refuses anything that
 * config does not allow. The network part's requests reach the privileged part's runner
 * this way (`src/privsep/`), so owning the network part cannot run an arbitrary command.
 * @module
 */
import { parseIp } from "../util/ip.ts";
import type { Runtime } from "../daemon/runtime.ts";
import { type ExecResult, runExec } from "./exec.ts";
import { emptyPlugins, resolvePluginAction } from "../plugins/registry.ts";
import { pluginArgv } from "../plugins/launch.ts";

/** What to run. */
export interface RunSpec {
  /** An allowed request of a user, a session's destructor, or a dead drop's handler. */
  kind: "action" | "destructor" | "deaddrop";
  /** The action id. */
  actionId: number;
  /** The requesting user (kind `action`). */
  userId?: number;
  /** The dead drop's name (kind `deaddrop`). */
  drop?: string;
  /** The `SIGLATCH_*` facts of the request (checked; the user and action ones are rewritten). */
  env: Record<string, string>;
  /** Bytes on stdin. */
  stdin: Uint8Array;
}

/** Runs exec actions named by a {@linkcode RunSpec}. */
export interface ActionRunner {
  /**
   * Runs it; rejects with a message when the spec is not allowed. `onOutput` gets the output
   * as it is read (fd 1 stdout, 2 stderr; within the action's output cap).
   */
  run(spec: RunSpec, onOutput?: (fd: 1 | 2, chunk: Uint8Array) => void): Promise<ExecResult>;
}

/** Environment names a request may carry. */
const ENV_NAMES = new Set([
  "SIGLATCH_USER",
  "SIGLATCH_USER_ID",
  "SIGLATCH_ACTION",
  "SIGLATCH_ACTION_ID",
  "SIGLATCH_SERVER",
  "SIGLATCH_SOURCE_IP",
  "SIGLATCH_SOURCE_PORT",
  "SIGLATCH_REQUEST_ID",
  "SIGLATCH_PAYLOAD_B64",
  "SIGLATCH_DEADDROP",
  "SIGLATCH_DESTRUCTOR",
  "SIGLATCH_DESTRUCTOR_REASON",
  "SIGLATCH_DESTRUCTOR_ATTEMPT",
  "SIGLATCH_GRANT_IP",
]);
/** Longest stdin of a dead drop (one datagram). */
const MAX_DROP_STDIN = 2048;

/** Thrown when a spec is not allowed by the config. */
export class RunRefused extends Error {
  /** Creates the refusal. */
  constructor(message: string) {
    super(message);
    this.name = "RunRefused";
  }
}

/** The exec spec for `spec` under `runtime`, or why it is refused. */
export function resolveRun(runtime: Runtime, spec: RunSpec): Parameters<typeof runExec>[0] {
  const refuse = (why: string): never => {
    throw new RunRefused(why);
  };
  if (!Number.isInteger(spec.actionId)) refuse("action id is not an integer");
  const action = runtime.actions.get(spec.actionId) ?? refuse(`no action ${spec.actionId}`);
  const a = action.config;
  let argv = a.command;
  let pluginEnv: Record<string, string> = {};
  if (spec.kind === "destructor") {
    // A session's cleanup runs even if the action or user was disabled since.
    if (!Array.isArray(a.destructor)) refuse(`action ${a.name} has no destructor command`);
    argv = a.destructor as string[];
  } else if (a.type === "plugin" && spec.kind === "action") {
    // A plugin action runs its plugin as loaded now (start or last reload).
    const r = resolvePluginAction(runtime.plugins ?? emptyPlugins(), a);
    if (typeof r === "string") refuse(r);
    const { plugin, action: pa } = r as Exclude<typeof r, string>;
    argv = pluginArgv(plugin, pa, a.output_cap);
    pluginEnv = {
      SIGLATCH_PLUGIN: plugin.manifest.name,
      SIGLATCH_PLUGIN_ACTION: pa,
      SIGLATCH_PLUGIN_CONFIG: JSON.stringify(a.plugin?.config ?? {}),
    };
    if (!a.enabled) refuse(`action ${a.name} is disabled`);
  } else {
    if (a.type !== "exec" || !a.command) refuse(`action ${a.name} is not an exec action`);
    if (!a.enabled) refuse(`action ${a.name} is disabled`);
  }
  if (!(spec.stdin instanceof Uint8Array)) refuse("stdin is not bytes");
  let uid = action.runAs?.uid;
  let gid = action.runAs?.gid;
  const env: Record<string, string> = { ...pluginEnv };
  if (spec.kind === "action") {
    const user = runtime.users.get(spec.userId ?? -1) ?? refuse(`no user ${spec.userId}`);
    if (!user.config.enabled) refuse(`user ${user.config.name} is disabled`);
    if (!user.actionIds.has(a.id)) refuse(`user ${user.config.name} may not run ${a.name}`);
    if (spec.stdin.length > a.max_payload) refuse(`payload longer than ${a.name}'s max_payload`);
    env.SIGLATCH_USER = user.config.name;
    env.SIGLATCH_USER_ID = String(user.config.id);
  } else if (spec.kind === "destructor") {
    if (spec.stdin.length > 0) refuse("a destructor reads no stdin");
    const user = runtime.users.get(spec.userId ?? -1);
    if (user) {
      env.SIGLATCH_USER = user.config.name;
      env.SIGLATCH_USER_ID = String(user.config.id);
    }
  } else if (spec.kind === "deaddrop") {
    const drop = [...runtime.servers.values()].flatMap((s) => s.deadDrops)
      .find((d) => d.name === spec.drop && d.handlerId === a.id) ??
      refuse(`no dead drop ${spec.drop} handled by ${a.name}`);
    if (spec.stdin.length > MAX_DROP_STDIN) refuse("dead-drop datagram too long");
    uid = drop.runAs.uid;
    gid = drop.runAs.gid;
    env.SIGLATCH_DEADDROP = drop.name;
  } else {
    refuse(`unknown kind ${String(spec.kind)}`);
  }
  env.SIGLATCH_ACTION = a.name;
  env.SIGLATCH_ACTION_ID = String(a.id);
  env.SIGLATCH_PAYLOAD_B64 = spec.stdin.toBase64();
  for (const [name, value] of Object.entries(spec.env ?? {})) {
    if (!ENV_NAMES.has(name)) refuse(`environment variable ${name} is not allowed`);
    if (name in env) continue; // the config's own facts win
    if (typeof value !== "string" || value.length > 256 || value.includes("\0")) {
      refuse(`environment variable ${name} is malformed`);
    }
    if (
      (name === "SIGLATCH_SOURCE_IP" || name === "SIGLATCH_GRANT_IP") && !parseIp(value)
    ) refuse("address malformed");
    if (name === "SIGLATCH_SOURCE_PORT" && !/^\d{1,5}$/.test(value)) refuse("port malformed");
    if (name === "SIGLATCH_REQUEST_ID" && !/^[0-9a-f]{32}$/.test(value)) refuse("id malformed");
    if (name === "SIGLATCH_SERVER" && !runtime.servers.has(value)) refuse("unknown server");
    env[name] = value;
  }
  return {
    argv: argv!,
    env,
    stdin: spec.stdin,
    uid,
    gid,
    cwd: a.working_dir,
    timeoutMs: a.timeout,
    outputCap: a.output_cap,
  };
}

/** Runs specs in this process against `runtime()` (single process, or the privileged part). */
export function localRunner(runtime: () => Runtime, signal?: AbortSignal): ActionRunner {
  return {
    run(spec, onOutput) {
      try {
        return runExec({ ...resolveRun(runtime(), spec), signal, onOutput });
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };
}

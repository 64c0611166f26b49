/**
 * Built-in actions answered inside the daemon: ping, version, list_actions, messages,
 * list_grants and revoke.
 * @module
 */
import { PROTOCOL_VERSIONS, VERSION } from "../version.ts";
import type { SystemMessage } from "../wire/reply_body.ts";
import { ReplyStatus } from "../wire/mod.ts";
import type { Runtime, UserRuntime } from "../daemon/runtime.ts";
import type { ActionSessions } from "./sessions.ts";
import type { ActionHandler } from "./handler.ts";

/** Builtins that change nothing: answered without waiting for the durable nonce commit. */
const READ_ONLY = new Set(["ping", "version", "list_actions", "messages", "list_grants"]);

/** What a builtin sees. */
export interface BuiltinContext {
  /** Current runtime. */
  runtime: Runtime;
  /** The requesting user. */
  user: UserRuntime;
  /** Current system messages. */
  messages: SystemMessage[];
}

/** Runs a read-only builtin `name`; returns structured data for the reply body. */
export function runBuiltin(name: string, ctx: BuiltinContext): unknown {
  switch (name) {
    case "ping":
      return "pong";
    case "version":
      return { version: VERSION, protocol: [...PROTOCOL_VERSIONS] };
    case "list_actions":
      return [...ctx.user.actionIds].map((id) => ctx.runtime.actions.get(id))
        .filter((a) => a !== undefined && a.config.enabled)
        .map((a) => ({
          id: a!.config.id,
          name: a!.config.name,
          type: a!.config.type,
          description: a!.config.description,
        }));
    case "messages":
      return ctx.messages;
    default:
      return { unsupported: name };
  }
}

/** What the builtin handler reads from the daemon. */
export interface BuiltinDeps {
  /** The current runtime. */
  runtime: () => Runtime;
  /** The current notices. */
  messages: () => SystemMessage[];
  /** Grants and sessions (absent in a dry run). */
  sessions: () => ActionSessions | undefined;
}

/** The handler of `type: builtin` actions. */
export function builtinHandler(deps: BuiltinDeps): ActionHandler {
  return {
    readOnly: (req) => READ_ONLY.has(req.action.config.builtin ?? ""),
    plan: (req) => ({ builtin: req.action.config.builtin }),
    async run(req) {
      const name = req.action.config.builtin ?? "";
      const sessions = deps.sessions();
      let data: unknown;
      if (name === "revoke") {
        data = await sessions?.revokeUser(req.user.config.id) ?? { grants: 0, sessions: 0 };
      } else if (name === "list_grants") {
        data = sessions?.list(req.user.config.id) ?? { grants: [], sessions: [] };
      } else {
        data = runBuiltin(name, {
          runtime: deps.runtime(),
          user: req.user,
          messages: deps.messages(),
        });
      }
      return { status: ReplyStatus.Ok, body: { data } };
    },
  };
}

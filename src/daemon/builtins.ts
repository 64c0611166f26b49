/**
 * Built-in actions answered inside the daemon: ping, version, list_actions, messages.
 * @module
 */
import { PROTOCOL_VERSIONS, VERSION } from "../version.ts";
import type { SystemMessage } from "../actions/result.ts";
import type { Runtime, UserRuntime } from "./runtime.ts";

/** What a builtin sees. */
export interface BuiltinContext {
  /** Current runtime. */
  runtime: Runtime;
  /** The requesting user. */
  user: UserRuntime;
  /** Current system messages. */
  messages: SystemMessage[];
}

/** Runs builtin `name`; returns structured data for the reply body. */
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

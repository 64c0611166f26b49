/**
 * Policy for an authenticated request: is this user, from this address, at this time,
 * allowed to run this action with this payload? Pure: no I/O.
 * @module
 */
import { anyCidrContains, type IpAddress } from "../util/ip.ts";
import type { ActionRuntime, Runtime, ServerRuntime, UserRuntime } from "./runtime.ts";
import { RELAY_MAX_PAYLOAD } from "../wire/relay.ts";

/** Why an authenticated request was refused. */
export type RefusalReason =
  | "user_disabled"
  | "key_not_yet_valid"
  | "key_expired"
  | "server_not_allowed"
  | "user_cidr"
  | "unknown_action"
  | "action_disabled"
  | "action_not_allowed"
  | "action_cidr"
  | "payload_too_large"
  | "payload_not_ascii"
  | "max_uses_reached";

/** A refusal. */
export interface PolicyRefusal {
  /** Not allowed. */
  ok: false;
  /** Why. */
  reason: RefusalReason;
}

/** What the policy decides. */
export type PolicyDecision = { ok: true; action: ActionRuntime } | PolicyRefusal;

/** The facts a decision is made on. */
export interface PolicyInput {
  /** Current runtime. */
  runtime: Runtime;
  /** Server the packet arrived on. */
  server: ServerRuntime;
  /** Authenticated user. */
  user: UserRuntime;
  /** Requested action id. */
  actionId: number;
  /** Source address. */
  ip: IpAddress;
  /** Request payload. */
  payload: Uint8Array;
  /** Now (ms). */
  now: number;
  /** Runtime overrides: names disabled by the admin. */
  disabled?: { has(section: "users" | "actions", name: string): boolean };
}

function isAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b < 0x20 && b !== 0x0a && b !== 0x09 || b > 0x7e) return false;
  return true;
}

/** Decides; the first failing rule names the refusal. */
export function decidePolicy(input: PolicyInput): PolicyDecision {
  const { user, server, ip, now } = input;
  const u = user.config;
  const refuse = (reason: RefusalReason): PolicyRefusal => ({ ok: false, reason });
  if (!u.enabled || input.disabled?.has("users", u.name)) return refuse("user_disabled");
  if (u.not_before !== undefined && now < u.not_before) return refuse("key_not_yet_valid");
  if (u.not_after !== undefined && now >= u.not_after) return refuse("key_expired");
  if (u.servers && !u.servers.includes(server.config.name)) return refuse("server_not_allowed");
  if (u.allow_cidrs && !anyCidrContains(u.allow_cidrs, ip)) return refuse("user_cidr");
  const action = input.runtime.actions.get(input.actionId);
  if (!action) return refuse("unknown_action");
  if (!user.actionIds.has(input.actionId)) return refuse("action_not_allowed");
  if (!action.config.enabled || input.disabled?.has("actions", action.config.name)) {
    return refuse("action_disabled");
  }
  if (action.config.allow_cidrs && !anyCidrContains(action.config.allow_cidrs, ip)) {
    return refuse("action_cidr");
  }
  // A relay's payload is one datagram for the next hop: its layer bounds it, not max_payload.
  const maxPayload = action.config.type === "relay" ? RELAY_MAX_PAYLOAD : action.config.max_payload;
  if (input.payload.length > maxPayload) return refuse("payload_too_large");
  if (action.config.require_ascii && !isAscii(input.payload)) return refuse("payload_not_ascii");
  return { ok: true, action };
}

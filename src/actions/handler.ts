/**
 * The contract between dispatch and an action type: a handler runs an accepted request
 * and says what to answer; for a dry run it describes what it would do instead.
 * Each action type has one handler module here; `daemon/dispatch.ts` holds the table.
 * @module
 */
import type { IpAddress } from "../util/ip.ts";
import type { ReplyBody } from "../wire/reply_body.ts";
import type { ActionRuntime, UserRuntime } from "../daemon/runtime.ts";
import type { ReplyChannel } from "../daemon/replies.ts";

/** An authenticated request that policy allowed, as a handler sees it. */
export interface ActionRequest {
  /** The requesting user. */
  user: UserRuntime;
  /** The action to run. */
  action: ActionRuntime;
  /** The server it arrived on. */
  server: string;
  /** The source address. */
  ip: IpAddress;
  /** Source address as text and port. */
  from: { hostname: string; port: number };
  /** The request payload. */
  payload: Uint8Array;
  /** Hex request id (the nonce), for logs. */
  requestId: string;
  /** The address the client asked to open for, sealed inside its request. */
  allowAddress?: IpAddress;
  /** True when this datagram proved its source address (a valid mac2). */
  sourceProven: boolean;
  /** The socket the request came in on (a relay keeps a session's path through it). */
  channel?: ReplyChannel;
  /** Gets exec output as it is read (a session's stream): fd 1 stdout, 2 stderr. */
  onOutput?: (fd: 1 | 2, chunk: Uint8Array) => void;
}

/** What a handler answers: reply status, body, and optional output. */
export interface ActionOutcome {
  /** A `ReplyStatus`. */
  status: number;
  /** Structured body. */
  body: ReplyBody;
  /** Raw output (exec stdout). */
  output?: Uint8Array;
  /** Exit code (exec). */
  exitCode?: number;
  /** Send no reply at all (a relay forwarding a datagram that expects none). */
  silent?: boolean;
}

/** One action type's behaviour. */
export interface ActionHandler {
  /** Runs the request. May throw `QueueFullError` (answered `busy`); other errors are internal. */
  run(req: ActionRequest): Promise<ActionOutcome>;
  /** What a dry run logs instead of running: the real argv, nft change, or builtin. */
  plan(req: ActionRequest): Record<string, unknown>;
  /** True when the request changes nothing (answered before its nonce is durable). */
  readOnly?(req: ActionRequest): boolean;
  /**
   * True when running it twice is harmless because its effect is replay-protected elsewhere
   * (a relay: the next hop refuses a replayed inner request): it runs before its nonce is
   * durable and keeps no retry entry, like a read-only request, but a dry run still skips it.
   */
  replaySafe?(req: ActionRequest): boolean;
}

/** The documented `SIGLATCH_*` environment an exec action (and its destructor) gets. */
export function requestEnv(req: ActionRequest): Record<string, string> {
  return {
    SIGLATCH_USER: req.user.config.name,
    SIGLATCH_USER_ID: String(req.user.config.id),
    SIGLATCH_ACTION: req.action.config.name,
    SIGLATCH_ACTION_ID: String(req.action.config.id),
    SIGLATCH_SERVER: req.server,
    SIGLATCH_SOURCE_IP: req.from.hostname,
    SIGLATCH_SOURCE_PORT: String(req.from.port),
    SIGLATCH_REQUEST_ID: req.requestId,
    SIGLATCH_PAYLOAD_B64: req.payload.toBase64(),
  };
}

/** How `run_as` shows in logs: `name(uid:gid)` or `self`. */
export function runAsText(action: ActionRuntime): string {
  return action.runAs ? `${action.runAs.user}(${action.runAs.uid}:${action.runAs.gid})` : "self";
}

/**
 * The info line a session leaves when it ends: who, from where, how long, why it ended and
 * what ran in it, by action. Builtins inside a session are logged at debug level (one info
 * line per ping cost a quarter of the session path's throughput); this summary keeps the
 * operator's audit trail at info complete: every session says what ran in it.
 * @module
 */
import type { Session, SessionEnd } from "./session_table.ts";

/** The message template and fields of a close summary (for `Logger.info`). */
export interface SessionSummary {
  /** Template with `{field}` placeholders. */
  message: string;
  /** Structured fields (JSON logs keep them apart). */
  fields: Record<string, unknown>;
}

/**
 * The summary of `s`, ended for `why` at `now`; `user` is its user's name (the id when the
 * user is gone from the config).
 */
export function sessionSummary(
  s: Session,
  why: SessionEnd,
  user: string,
  now: number,
): SessionSummary {
  let commands = 0;
  const actions: Record<string, number> = {};
  for (const [name, n] of [...s.ran].sort((a, b) => a[0].localeCompare(b[0]))) {
    actions[name] = n;
    commands += n;
  }
  const ran = Object.entries(actions).map(([name, n]) => `${name}:${n}`).join(",") || "-";
  return {
    message: "session closed user={user} src={ip} port={port} session={session} reason={reason} " +
      "duration_ms={duration_ms} commands={commands} ran={ran} refused={refused}",
    fields: {
      decision: "session_closed",
      user,
      ip: s.host,
      port: s.port,
      session: s.id.toString(16).padStart(16, "0"),
      reason: why,
      duration_ms: Math.max(0, now - s.opened),
      messages: s.messages,
      commands,
      ran,
      actions,
      refused: s.refused,
    },
  };
}

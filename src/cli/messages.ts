/**
 * `siglatch messages PROFILE`: asks the server for its current system messages (the
 * `messages` builtin action) and prints them as `[notice] text` / `[warning] text`.
 * Exit status: 0 answered, 1 refused, 2 usage, 3 no reply.
 * @module
 */
import { colourFor, levelStyle, paint } from "./colour.ts";
import type { Command } from "commander";
import { CliError, UsageError } from "./errors.ts";
import { reportResult, resolveAction, resolveSendSettings } from "./send.ts";
import type { SendResult } from "../client/send.ts";
import { parseDuration } from "../config/duration.ts";
import type { SystemMessage } from "../wire/reply_body.ts";
import { ReplyStatus } from "../wire/mod.ts";
import { cliProfileKeys, sendAsProfile } from "./profile_request.ts";

/** Request size: the server's reply may be this large, enough for several messages. */
export const MESSAGES_REQUEST_SIZE = 1200;

/** Flags of `messages`. */
export interface MessagesFlags {
  /** Action name or id of the messages builtin (default `messages`). */
  action?: string;
  /** Wait per attempt. */
  timeout?: string;
  /** Print the reply as JSON. */
  json?: boolean;
}

function isMessage(v: unknown): v is SystemMessage {
  return typeof v === "object" && v !== null && typeof (v as SystemMessage).text === "string";
}

/** Formats messages one per line, the level in brackets (coloured by level when `colour`). */
export function formatMessages(msgs: SystemMessage[], colour = false): string[] {
  return msgs.map((m) => `${paint(`[${m.level}]`, levelStyle(m.level), colour)} ${m.text}`);
}

/** Runs `messages`; returns the exit status. */
export async function messages(profile: string, flags: MessagesFlags): Promise<number> {
  const p = await resolveSendSettings({ profile, wait: true });
  const actionId = resolveAction(p, flags.action ?? "messages");
  const timeoutMs = flags.timeout ? parseDuration(flags.timeout) : p.timeout * 1000;
  if (timeoutMs === undefined || timeoutMs <= 0) {
    throw new UsageError(`--timeout ${flags.timeout}: expected a duration such as 2s`);
  }
  const keys = await cliProfileKeys(p);
  let res: SendResult;
  try {
    res = await sendAsProfile(p, keys, {
      actionId,
      payload: new Uint8Array(0),
      wait: true,
      timeoutMs,
      retries: p.retries,
      // Replies are never larger than the request (no amplification): make room for them.
      padTo: MESSAGES_REQUEST_SIZE,
    });
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
  const ok = res.answered && res.status === ReplyStatus.Ok;
  if (flags.json || !ok) return reportResult(res, flags.json ?? false);
  const data = res.body?.data;
  const list = (Array.isArray(data) ? data : res.body?.msgs ?? []).filter(isMessage);
  if (list.length === 0) console.error("(no messages)");
  for (const line of formatMessages(list, colourFor("stdout"))) console.log(line);
  return 0;
}

/** Registers the `messages` subcommand. */
export function register(program: Command): void {
  program.command("messages")
    .description("show the server's current system messages (notices and warnings)")
    .argument("<profile>", "client profile (name or path)")
    .option(
      "--action <name|id>",
      "the profile's name (or the id) of the messages action",
      "messages",
    )
    .option("--timeout <duration>", "wait per attempt (e.g. 2s)")
    .option("--json", "print the reply as JSON")
    .addHelpText(
      "after",
      `
The profile's actions: map must name the server's messages builtin, e.g.
  actions: { messages: 3 }

Exit status: 0 answered, 1 refused, 2 usage error, 3 no reply.

Examples:
  siglatch messages work
  siglatch messages ./alice.yaml --json`,
    )
    .action(async (profile: string, flags: MessagesFlags) => {
      const code = await messages(profile, flags);
      if (code !== 0) throw new CliError("", code);
    });
}

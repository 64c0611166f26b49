/**
 * Several commands in one session (`siglatch send A --then B …`, `siglatch session`): the
 * first command's action opens the session (one sealed request, one X25519 on the server),
 * then every command is a session datagram. Each result is reported on its own; a failure
 * does not stop the rest unless `stopOnError`. A server whose sessions are full or off gets
 * the remaining commands as plain requests.
 * @module
 */
import type { ClientKeys } from "../client/keys.ts";
import type { Profile } from "../client/profile.ts";
import { ClientSession } from "../client/session.ts";
import { ProgressFilter, ProgressView } from "../client/progress.ts";
import type { SendResult } from "../client/send.ts";
import { ReplyStatus } from "../wire/mod.ts";
import { replyOutput } from "../wire/reply_body.ts";
import { UsageError } from "./errors.ts";
import { profileTarget, sendAsProfile } from "./profile_request.ts";

/** Exit status when no reply came (as `send`'s). */
const EXIT_NO_REPLY = 3;

/** One command of a batch. */
export interface BatchCommand {
  /** The action as the user wrote it (name or id). */
  action: string;
  /** Its id. */
  actionId: number;
  /** Payload bytes. */
  payload: Uint8Array;
}

/** How to run a batch. */
export interface BatchOptions {
  /** Per attempt, ms. */
  timeoutMs: number;
  /** Extra attempts. */
  retries: number;
  /** Added to the clock when stamping the opening request. */
  timeOffsetMs: number;
  /** One JSON object per result. */
  json: boolean;
  /** Stop at the first result that is not ok. */
  stopOnError: boolean;
  /** Print streamed output as it arrives (else with its result). */
  follow?: boolean;
  /** Print a `--- [n] ACTION` line before each result (a batch; not a single --follow). */
  headers?: boolean;
  /** Prints one result and returns its exit status (`send`'s `reportResult`). */
  report: (res: SendResult, json: boolean) => number;
}

/**
 * Splits `send`'s trailing arguments: `[PAYLOAD] [--then ACTION [PAYLOAD]]…`. Returns the first
 * payload (or undefined) and the further commands as (action, payload) pairs.
 * @throws {UsageError} for anything else (an unknown option lands here too).
 */
export function splitThen(
  rest: readonly string[],
): { payload?: string; then: { action: string; payload?: string }[] } {
  const then: { action: string; payload?: string }[] = [];
  let i = 0;
  let payload: string | undefined;
  if (i < rest.length && rest[i] !== "--then") {
    if (rest[i].startsWith("--")) throw new UsageError(`unknown option ${rest[i]}`);
    payload = rest[i++];
  }
  while (i < rest.length) {
    if (rest[i] !== "--then") {
      throw new UsageError(
        rest[i].startsWith("-")
          ? `unknown option ${rest[i]}`
          : `unexpected argument "${rest[i]}": one payload per action (quote it)`,
      );
    }
    const action = rest[i + 1];
    if (action === undefined || action.startsWith("--")) {
      throw new UsageError("--then needs an action");
    }
    i += 2;
    let p: string | undefined;
    if (i < rest.length && rest[i] !== "--then") {
      if (rest[i].startsWith("--")) throw new UsageError(`unknown option ${rest[i]}`);
      p = rest[i++];
    }
    then.push({ action, payload: p });
  }
  return { payload, then };
}

/** Parses one line of `siglatch session`'s input: `ACTION [PAYLOAD…]`; blank and # lines: null. */
export function parseCommandLine(line: string): { action: string; payload: string } | null {
  const t = line.trim();
  if (t === "" || t.startsWith("#")) return null;
  const sp = t.search(/\s/);
  return sp < 0
    ? { action: t, payload: "" }
    : { action: t.slice(0, sp), payload: t.slice(sp).trimStart() };
}

function sessionRefused(res: SendResult): boolean {
  const reason = res.body?.reason;
  return res.answered && res.status === ReplyStatus.Busy && typeof reason === "string" &&
    reason.startsWith("sessions_");
}

function isOk(res: SendResult): boolean {
  return res.answered && res.status === ReplyStatus.Ok && (res.exitCode ?? 0) === 0;
}

/**
 * Runs `commands` (an array or a stream of them) in one session and reports each result.
 * Returns the exit status: 0 all ok, 3 when one got no reply, else 1.
 */
export async function runBatch(
  p: Profile,
  keys: ClientKeys,
  commands: Iterable<BatchCommand> | AsyncIterable<BatchCommand>,
  o: BatchOptions,
): Promise<number> {
  let session: ClientSession | undefined;
  let plain = false;
  let worst = 0;
  let n = 0;
  // Through relays (docs/RELAY.md): each relay keeps a path for the session's datagrams.
  const base = {
    ...await profileTarget(p, keys),
    wait: true,
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    timeOffsetMs: o.timeOffsetMs,
  };
  try {
    for await (const c of commands) {
      n++;
      // JSON: one line per command, in order; else a header line before each command.
      if (!o.json && o.headers !== false) console.log(`--- [${n}] ${c.action}`);
      let res: SendResult | undefined;
      if (!session && !plain) {
        const opened = await ClientSession.open({ ...base, actionId: c.actionId });
        if (opened.ok) session = opened.session;
        else if (sessionRefused(opened.result)) plain = true;
        else res = opened.result; // this action was refused (or an old server ran it)
      }
      if (res === undefined && session && o.follow && !o.json) {
        // Output as it arrives; progress lines become a bar (terminal) or plain lines.
        const view = new ProgressView(Deno.stderr.isTerminal(), writeErr);
        const filter = new ProgressFilter(writeOut, (pr) => view.show(pr));
        res = await session.run(
          c.actionId,
          c.payload,
          (chunk, stderr) => stderr ? writeErrBytes(chunk) : filter.write(chunk),
        );
        // Output that fit the result came with it: through the same filter.
        if (res.body?.out !== undefined) {
          await filter.write(replyOutput(res.body));
          res.body = { ...res.body, out: undefined, b64: undefined };
        }
        await filter.end();
        view.done();
      }
      if (res === undefined) {
        res = session
          ? await session.run(c.actionId, c.payload)
          : await sendAsProfile(p, keys, { ...base, actionId: c.actionId, payload: c.payload });
      }
      const code = o.report(res, o.json);
      if (code === EXIT_NO_REPLY) worst = EXIT_NO_REPLY;
      else if (code !== 0 && worst === 0) worst = code;
      if (!isOk(res) && o.stopOnError) break;
    }
  } finally {
    await session?.close();
  }
  return worst;
}

/** Writes streamed output to stdout as it arrives. */
async function writeOut(chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.length) off += await Deno.stdout.write(chunk.subarray(off));
}

function writeErr(text: string): void {
  writeErrBytes(new TextEncoder().encode(text));
}

function writeErrBytes(bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/**
 * `siglatch send`: sends one sealed request and prints the reply.
 * Exit status: 0 the action ran and succeeded, 1 refused or failed, 2 usage, 3 no reply.
 * @module
 */
import { colourFor, levelStyle, paint } from "./colour.ts";
import type { Command } from "commander";
import { CliError, UsageError } from "./errors.ts";
import { loadProfile, type Profile } from "../client/profile.ts";
import type { SendResult } from "../client/send.ts";
import { replyOutput } from "../wire/reply_body.ts";
import { ReplyStatus } from "../wire/mod.ts";
import { parseDuration } from "../config/duration.ts";
import { cliProfileKeys, sendAsProfile } from "./profile_request.ts";
import { parseIp } from "../util/ip.ts";
import { DEFAULT_CHAFF_JITTER_MS, MAX_CHAFF } from "../client/chaff.ts";
import { MAX_REQUEST_PAYLOAD, PayloadFileError, readPayloadFile } from "../client/payload_file.ts";
import { ProgressView } from "../client/progress.ts";
import { type BatchCommand, runBatch, splitThen } from "./batch.ts";
import { addProfileOptions } from "./profile_options.ts";

/** Exit status when no reply came. */
export const EXIT_NO_REPLY = 3;

/** Flags of `send` (every profile field can be overridden). */
export interface SendFlags {
  profile?: string;
  host?: string;
  port?: string;
  serverKey?: string;
  userId?: string;
  hmacKey?: string;
  ed25519Key?: string;
  bind?: string;
  stdin?: boolean;
  file?: string;
  wait: boolean;
  timeout?: string;
  retries?: string;
  json?: boolean;
  timeOffset?: string;
  insecure?: boolean;
  allowIp?: string;
  chaff?: string;
  chaffJitter?: string;
  single?: boolean;
  stopOnError?: boolean;
  follow?: boolean;
}

const STATUS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ReplyStatus).map(([k, v]) => [v as number, k.toLowerCase()]),
);

/** The name of a reply status code. */
export function statusName(code: number | undefined): string {
  return code === undefined ? "none" : STATUS_NAMES[code] ?? `status_${code}`;
}

async function readAllStdin(limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const c of Deno.stdin.readable) {
    total += c.length;
    if (total > limit) throw new UsageError(`stdin payload is larger than ${limit} bytes`);
    chunks.push(c);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function intFlag(
  name: string,
  v: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} ${v}: expected an integer ${min}..${max}`);
  }
  return n;
}

/**
 * Progress of a fragmented send on stderr: a bar redrawn per fragment on a terminal, one
 * plain `progress n/m fragments sent` line per attempt otherwise. A one-datagram send shows
 * nothing.
 */
export function fragmentProgress(
  tty: boolean,
  write: (text: string) => void = (t) => Deno.stderr.writeSync(new TextEncoder().encode(t)),
): { onSent: (sent: number, total: number) => void; done: () => void } {
  const view = new ProgressView(tty, write);
  return {
    onSent: (n, m) => {
      if (m > 1 && (tty || n === m)) view.show({ n, m, text: "fragments sent" });
    },
    done: () => view.done(),
  };
}

/** Builds the effective settings from profile + flags. */
export async function resolveSendSettings(flags: SendFlags): Promise<Profile> {
  const base: Partial<Profile> = flags.profile
    ? await loadProfile(flags.profile).catch((e) => {
      throw new CliError(e.message);
    })
    : {};
  const p = { ...base } as Profile;
  if (flags.host) p.host = flags.host;
  const port = intFlag("port", flags.port, 1, 65535);
  if (port) p.port = port;
  if (flags.serverKey) {
    if (flags.serverKey.includes("/") || flags.serverKey.endsWith(".pem")) {
      p.server_public_key_file = flags.serverKey;
      p.server_public_key = undefined;
    } else {
      p.server_public_key = flags.serverKey;
      p.server_public_key_file = undefined;
    }
  }
  const uid = intFlag("user-id", flags.userId, 1, 0xffffffff);
  if (uid) p.user_id = uid;
  if (flags.hmacKey) [p.hmac_key_file, p.ed25519_key_file] = [flags.hmacKey, undefined];
  if (flags.ed25519Key) [p.ed25519_key_file, p.hmac_key_file] = [flags.ed25519Key, undefined];
  if (flags.bind) p.bind = flags.bind;
  if (flags.insecure) p.insecure = true;
  if (flags.allowIp !== undefined) {
    if (!parseIp(flags.allowIp)) {
      throw new UsageError(`--allow-ip ${flags.allowIp}: not an IP address`);
    }
    p.allow_ip = flags.allowIp;
  }
  p.chaff = intFlag("chaff", flags.chaff, 0, MAX_CHAFF) ?? p.chaff ?? 0;
  p.chaff_jitter_ms = intFlag("chaff-jitter", flags.chaffJitter, 0, 5000) ??
    p.chaff_jitter_ms ?? DEFAULT_CHAFF_JITTER_MS;
  if (p.chaff > 0 && p.insecure) throw new UsageError("--chaff needs a secure server");
  p.actions ??= {};
  p.timeout ??= 2;
  p.retries ??= 2;
  const missing = [
    p.host ? "" : "host (--host)",
    p.port ? "" : "port (--port)",
    p.user_id ? "" : "user id (--user-id)",
    p.server_public_key || p.server_public_key_file ? "" : "server key (--server-key)",
    p.hmac_key_file || p.ed25519_key_file ? "" : "user key (--hmac-key or --ed25519-key)",
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new UsageError(`missing ${missing.join(", ")}: give --profile or the flags`);
  }
  return p;
}

/** Resolves an action argument (name from the profile, or a numeric id). */
export function resolveAction(p: Profile, action: string): number {
  if (/^\d+$/.test(action)) {
    const id = Number(action);
    if (id >= 1 && id <= 65535) return id;
  }
  const id = p.actions[action];
  if (id === undefined) {
    const known = Object.keys(p.actions);
    throw new UsageError(
      `unknown action "${action}": give its numeric id` +
        (known.length ? ` or one of: ${known.join(", ")}` : " (the profile lists no action names)"),
    );
  }
  return id;
}

/** Prints a result for a person (or as JSON) and returns the exit status. */
export function reportResult(res: SendResult, json: boolean): number {
  const ok = res.answered && res.status === ReplyStatus.Ok && (res.exitCode ?? 0) === 0;
  if (json) {
    console.log(JSON.stringify({
      answered: res.answered,
      status: res.status === undefined ? undefined : statusName(res.status),
      exit_code: res.exitCode,
      server_time: res.serverTime,
      truncated: res.truncated,
      attempts: res.attempts,
      rtt_ms: res.rttMs === undefined ? undefined : Math.round(res.rttMs * 1000) / 1000,
      ...res.body,
    }));
  } else if (res.answered && res.status !== undefined) {
    const colour = colourFor("stderr");
    for (const m of res.body?.msgs ?? []) {
      console.error(`${paint(`[${m.level}]`, levelStyle(m.level), colour)} ${m.text}`);
    }
    const body = res.body ?? {};
    if (body.data !== undefined) {
      console.log(typeof body.data === "string" ? body.data : JSON.stringify(body.data, null, 2));
    }
    const out = replyOutput(body);
    if (out.length > 0) Deno.stdout.writeSync(out);
    if (body.cut || res.truncated) console.error("(output truncated)");
    if (body.dry) console.error("(dry run: nothing was run)");
    if (!ok) {
      let why = `${statusName(res.status)}${body.reason ? `: ${body.reason}` : ""}`;
      if (res.relayHop !== undefined) why = `relay hop ${res.relayHop + 1}: ${why}`;
      if (body.reason === "relay_proof_required") {
        why += "\n  the server behind this relay wants the source address proven after opening " +
          "the request, which a relay cannot do for you: name the address to open with " +
          "--allow-ip (a firewall or forward action); a user or action with " +
          "require_challenge cannot be used through a relay";
      }
      if (res.status === ReplyStatus.ClockSkew && res.serverTime !== undefined) {
        why += ` (server time ${new Date(res.serverTime).toISOString()}, ` +
          `offset ${res.serverTime - Date.now()} ms: retry with --time-offset)`;
      }
      if (res.exitCode) why += ` (exit code ${res.exitCode})`;
      if (body.err) why += `\n${body.err}`;
      console.error(`${paint("siglatch:", "red", colour)} ${why}`);
    }
  }
  if (!res.answered) {
    if (!json) {
      console.error(
        `${paint("siglatch:", "red", colourFor("stderr"))} no reply after ${res.attempts} ` +
          "attempt(s): the server is down, the port is " +
          "filtered, the key is wrong, or the packet was refused silently",
      );
    }
    return EXIT_NO_REPLY;
  }
  return ok || res.status === undefined ? 0 : 1;
}

/** Registers the `send` subcommand. */
export function register(program: Command): void {
  addProfileOptions(
    program.command("send")
      .description("send one sealed request and print the reply")
      .argument("<action>", "action name (from the profile's actions:) or numeric id")
      .argument("[payload...]", "payload text (or --stdin); then --then ACTION [PAYLOAD] …")
      .allowUnknownOption(),
  )
    .option("--stdin", "read the payload from standard input")
    .option("--file <path>", "read the payload from a file (up to 64 KiB, sent as fragments)")
    .option("--no-wait", "send and exit without waiting for a reply")
    .option("--timeout <duration>", "wait per attempt (e.g. 2s, 500ms)")
    .option("--retries <n>", "extra attempts, each with a fresh nonce")
    .option("--time-offset <ms>", "add to the local clock (fix clock skew)")
    .option("--insecure", "signed but not sealed (insecure onboarding servers only)")
    .option(
      "--allow-ip <addr>",
      "address a firewall action should open, sealed in the request (default: the public " +
        "address the server reported in a cookie reply)",
    )
    .option("--chaff <n>", "send n decoy datagrams (same size, random order and timing) too")
    .option("--chaff-jitter <ms>", "longest random wait before each datagram (default 200)")
    .option(
      "--single",
      "one datagram per attempt: no copy of the first one when the client holds no cookie " +
        "(a server under a flood then answers only on a retry)",
    )
    .option("--json", "print the reply as JSON")
    .option("--stop-on-error", "with --then: stop at the first command that is not ok")
    .option("--follow", "run in a session and print the output as it arrives (any size)")
    .addHelpText(
      "after",
      `
Exit status: 0 the action succeeded, 1 refused or failed, 2 usage error, 3 no reply.

Without a cookie from the server (it hands them out only under load or when a policy asks
for a proven source) the first datagram goes twice, back to back: a server under a flood of
spoofed datagrams answers a source it sees twice with a cookie at once; any other server drops
the copy before opening it. --single sends one.

Every request carries, sealed, the address a firewall action may open: --allow-ip (or the
profile's allow_ip), else the public address the server reported in its last cookie reply (a
copied packet sent from elsewhere opens nothing). Retries reuse one retry id, so a retry whose
first reply was lost gets that reply again instead of running the action twice.

Examples:
  siglatch send --profile work ping
  siglatch send --profile .siglatch-demo/client.yaml echo "hello"
  echo data | siglatch send -p work --stdin 7 --json
  siglatch send -p work upload --file ./authorized_keys
  siglatch send -p work ping --then status --then deploy v2 --stop-on-error

--then ACTION [PAYLOAD] (repeatable) runs several commands in one session: one handshake,
then each command sealed under the session key; each result is reported on its own.`,
    )
    .action(async (action: string, rest: string[], flags: SendFlags) => {
      const split = splitThen(rest);
      const payloadArg = split.payload;
      const p = await resolveSendSettings(flags);
      const actionId = resolveAction(p, action);
      if (payloadArg !== undefined && flags.stdin) {
        throw new UsageError("give the payload as an argument or --stdin, not both");
      }
      if (flags.file !== undefined && (payloadArg !== undefined || flags.stdin)) {
        throw new UsageError("give the payload as an argument, --stdin or --file, one only");
      }
      let payload: Uint8Array;
      try {
        payload = flags.file !== undefined
          ? await readPayloadFile(flags.file)
          : flags.stdin
          ? await readAllStdin(MAX_REQUEST_PAYLOAD)
          : new TextEncoder().encode(payloadArg ?? "");
      } catch (err) {
        if (err instanceof PayloadFileError) throw new UsageError(err.message);
        throw err;
      }
      const timeoutMs = flags.timeout ? parseDuration(flags.timeout) : p.timeout * 1000;
      if (timeoutMs === undefined || timeoutMs <= 0) {
        throw new UsageError(`--timeout ${flags.timeout}: expected a duration such as 2s`);
      }
      const retries = intFlag("retries", flags.retries, 0, 10) ?? p.retries;
      const offset = flags.timeOffset === undefined ? 0 : Number(flags.timeOffset);
      if (!Number.isFinite(offset)) throw new UsageError("--time-offset: expected milliseconds");
      const keys = await cliProfileKeys(p);
      if (split.then.length > 0 || flags.follow) {
        if (!flags.wait) throw new UsageError("--then and --follow need replies: drop --no-wait");
        const enc = new TextEncoder();
        const commands: BatchCommand[] = [
          { action, actionId, payload },
          ...split.then.map((t) => ({
            action: t.action,
            actionId: resolveAction(p, t.action),
            payload: enc.encode(t.payload ?? ""),
          })),
        ];
        const code = await runBatch(p, keys, commands, {
          timeoutMs,
          retries,
          timeOffsetMs: offset,
          json: flags.json ?? false,
          stopOnError: flags.stopOnError ?? false,
          follow: flags.follow ?? false,
          headers: split.then.length > 0,
          report: reportResult,
        }).catch((err) => {
          throw new CliError(err instanceof Error ? err.message : String(err));
        });
        if (code !== 0) throw new CliError("", code);
        return;
      }
      let res: SendResult;
      // --file: the fragments sent, as a bar on a terminal (a plain line at the end otherwise).
      const sending = flags.file !== undefined && !flags.json
        ? fragmentProgress(Deno.stderr.isTerminal())
        : undefined;
      try {
        res = await sendAsProfile(p, keys, {
          onSent: sending?.onSent,
          actionId,
          payload,
          wait: flags.wait,
          timeoutMs,
          retries,
          timeOffsetMs: offset,
          chaff: p.chaff,
          chaffJitterMs: p.chaff_jitter_ms,
          firstContactCopy: !flags.single,
        });
      } catch (err) {
        throw new CliError(err instanceof Error ? err.message : String(err));
      } finally {
        sending?.done();
      }
      const code = reportResult(res, flags.json ?? false);
      if (code !== 0) throw new CliError("", code);
    });
}

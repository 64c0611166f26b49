/**
 * `siglatch open PROFILE [ACTION]`: asks for a firewall grant and keeps it alive while the
 * command runs (re-sending before it lapses and printing the time left); on Ctrl-C
 * (SIGINT/SIGTERM), or when `--for` is over, it sends the profile's `revoke` action.
 * Exit status: 0 closed cleanly, 1 refused or lost, 2 usage, 3 no reply to the first request.
 * @module
 */
import type { Command } from "commander";
import { CliError, UsageError } from "./errors.ts";
import { resolveAction, resolveSendSettings, statusName } from "./send.ts";
import type { SendResult } from "../client/send.ts";
import { ReplyStatus } from "../wire/mod.ts";
import { parseDuration } from "../config/duration.ts";
import { type OpenAttempt, runOpen } from "../client/keepopen.ts";
import { parseIp } from "../util/ip.ts";
import { cliProfileKeys, sendAsProfile } from "./profile_request.ts";

function toAttempt(res: SendResult): OpenAttempt {
  const ok = res.answered && res.status === ReplyStatus.Ok && (res.exitCode ?? 0) === 0;
  const reason = `${statusName(res.status)}${res.body?.reason ? `: ${res.body.reason}` : ""}`;
  return { answered: res.answered, ok, reason: ok ? undefined : reason, data: res.body?.data };
}

/** Flags of `open`. */
interface OpenFlags {
  for?: string;
  every?: string;
  revoke?: string;
  address?: string;
  timeout?: string;
  allowIp?: string;
}

/** Registers the `open` subcommand. */
export function register(program: Command): void {
  program.command("open")
    .description("open a firewall grant and keep it open until Ctrl-C (or --for)")
    .argument("<profile>", "client profile (name or path)")
    .argument("[action]", "the firewall action (name from the profile or id)", "open")
    .option("--for <duration>", "close after this long (e.g. 10m)")
    .option("--every <duration>", "re-send interval (default: half the keepalive/time left)")
    .option("--revoke <action>", "action to send on exit (default: the profile's 'revoke')")
    .option("--address <ip>", "open for this address instead of the sender's (if allowed)")
    .option("--timeout <duration>", "wait per attempt (e.g. 2s)")
    .option(
      "--allow-ip <addr>",
      "address the grant is for, sealed in the request (default: the profile's allow_ip, " +
        "else the public address the server reported in a cookie reply)",
    )
    .addHelpText(
      "after",
      `
Exit status: 0 closed cleanly, 1 refused or lost, 2 usage error, 3 no reply.

Examples:
  siglatch open work ssh
  siglatch open work ssh --for 30m`,
    )
    .action(async (profile: string, action: string, flags: OpenFlags) => {
      const p = await resolveSendSettings({ profile, wait: true, allowIp: flags.allowIp });
      const actionId = resolveAction(p, action);
      const revokeName = flags.revoke ?? (p.actions["revoke"] !== undefined ? "revoke" : undefined);
      const revokeActionId = revokeName === undefined ? undefined : resolveAction(p, revokeName);
      const dur = (name: string, v: string | undefined) => {
        if (v === undefined) return undefined;
        const ms = parseDuration(v);
        if (ms === undefined || ms <= 0) {
          throw new UsageError(`--${name} ${v}: expected a duration such as 10m`);
        }
        return ms;
      };
      const forMs = dur("for", flags.for);
      const everyMs = dur("every", flags.every);
      const timeoutMs = dur("timeout", flags.timeout) ?? p.timeout * 1000;
      if (flags.address !== undefined && !parseIp(flags.address)) {
        throw new UsageError(`--address ${flags.address}: not an IP address`);
      }
      const keys = await cliProfileKeys(p);
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      Deno.addSignalListener("SIGINT", onSignal);
      Deno.addSignalListener("SIGTERM", onSignal);
      let code: number;
      try {
        code = await runOpen({
          send: (id, payload) =>
            sendAsProfile(p, keys, {
              actionId: id,
              payload,
              wait: true,
              timeoutMs,
              retries: p.retries,
            }).then(toAttempt),
          actionId,
          revokeActionId,
          payload: new TextEncoder().encode(flags.address ?? ""),
          forMs,
          everyMs,
          signal: abort.signal,
          log: (line) => console.error(line),
        });
      } catch (err) {
        throw new CliError(err instanceof Error ? err.message : String(err));
      } finally {
        Deno.removeSignalListener("SIGINT", onSignal);
        Deno.removeSignalListener("SIGTERM", onSignal);
      }
      if (code !== 0) throw new CliError("", code);
    });
}

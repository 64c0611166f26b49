/**
 * `siglatch session`: commands from standard input, one per line (`ACTION [PAYLOAD]`), all in
 * one session (one handshake). Each result is reported as it arrives.
 * Exit status: 0 every command ok, 1 one was refused or failed, 2 usage, 3 one got no reply.
 * @module
 */
import type { Command } from "commander";
import { CliError, UsageError } from "./errors.ts";
import { parseDuration } from "../config/duration.ts";
import { cliProfileKeys } from "./profile_request.ts";
import { addProfileOptions } from "./profile_options.ts";
import { type BatchCommand, parseCommandLine, runBatch } from "./batch.ts";
import { reportResult, resolveAction, resolveSendSettings, type SendFlags } from "./send.ts";

/** Registers the `session` subcommand. */
export function register(program: Command): void {
  addProfileOptions(
    program.command("session")
      .description("run commands from standard input (one per line) in one session"),
  )
    .option("--timeout <duration>", "wait per attempt (e.g. 2s, 500ms)")
    .option("--retries <n>", "extra attempts per command")
    .option("--time-offset <ms>", "add to the local clock (fix clock skew)")
    .option("--json", "one JSON line per result")
    .option("--stop-on-error", "stop at the first command that is not ok")
    .addHelpText(
      "after",
      `
Each line: ACTION [PAYLOAD] (the payload is the rest of the line); blank lines and lines
starting with # are skipped. The first command opens the session (one handshake, checked by
policy); every later one is sealed under the session key. Policy is checked again for every
command. Exit status: 0 all ok, 1 one refused or failed, 2 usage error, 3 one got no reply.

Example:
  printf 'ping\\nstatus\\ndeploy v2\\n' | siglatch session -p work`,
    )
    .action(async (flags: SendFlags) => {
      const p = await resolveSendSettings({ ...flags, wait: true });
      const timeoutMs = flags.timeout ? parseDuration(flags.timeout) : p.timeout * 1000;
      if (timeoutMs === undefined || timeoutMs <= 0) {
        throw new UsageError(`--timeout ${flags.timeout}: expected a duration such as 2s`);
      }
      const retries = flags.retries === undefined ? p.retries : Number(flags.retries);
      if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
        throw new UsageError(`--retries ${flags.retries}: expected an integer 0..10`);
      }
      const offset = flags.timeOffset === undefined ? 0 : Number(flags.timeOffset);
      if (!Number.isFinite(offset)) throw new UsageError("--time-offset: expected milliseconds");
      const keys = await cliProfileKeys(p);
      const enc = new TextEncoder();
      async function* commands(): AsyncGenerator<BatchCommand> {
        for await (const line of stdinLines()) {
          const c = parseCommandLine(line);
          if (c === null) continue;
          yield {
            action: c.action,
            actionId: resolveAction(p, c.action),
            payload: enc.encode(c.payload),
          };
        }
      }
      const code = await runBatch(p, keys, commands(), {
        timeoutMs,
        retries,
        timeOffsetMs: offset,
        json: flags.json ?? false,
        stopOnError: flags.stopOnError ?? false,
        report: reportResult,
      }).catch((err) => {
        if (err instanceof UsageError) throw err;
        throw new CliError(err instanceof Error ? err.message : String(err));
      });
      if (code !== 0) throw new CliError("", code);
    });
}

/** Lines of standard input as they arrive (a command runs before the next line is typed). */
async function* stdinLines(): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
    }
    if (buf.length > 65536) throw new UsageError("an input line is longer than 64 KiB");
  }
  if (buf.length > 0) yield buf;
}

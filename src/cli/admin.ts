/**
 * `siglatch admin`: talk to a running daemon over its control socket. With a command it
 * runs that one command and exits (0 ok, 1 failed, 2 usage); without one it opens the
 * interactive shell.
 * @module
 */
import type { Command } from "commander";
import { CliError } from "./errors.ts";
import { AdminClient, resolveSocketPath } from "../client/admin/client.ts";
import { helpText } from "../admin/protocol.ts";
import { historyFile, runCommand, runShell } from "../client/admin/shell.ts";

/** Flags of `admin`. */
export interface AdminFlags {
  /** Control socket path. */
  socket?: string;
  /** Config file naming `admin.socket`. */
  config?: string;
  /** Print results as JSON. */
  json?: boolean;
}

/** Runs `siglatch admin` with `words` (empty: the shell); returns the exit status. */
export async function admin(words: string[], flags: AdminFlags): Promise<number> {
  if (words[0] === "help") {
    console.log(helpText(words[1]));
    return 0;
  }
  let socket: string;
  try {
    socket = await resolveSocketPath(flags);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
  let client: AdminClient;
  try {
    client = await AdminClient.connect(socket);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
  try {
    if (words.length === 0) return await runShell(client, { socket, historyPath: historyFile() });
    const { promise: stop, resolve } = Promise.withResolvers<void>();
    const onSigint = () => resolve();
    Deno.addSignalListener("SIGINT", onSigint);
    try {
      return await runCommand(socket, client, words, { json: flags.json, stop });
    } catch (err) {
      throw new CliError(err instanceof Error ? err.message : String(err));
    } finally {
      Deno.removeSignalListener("SIGINT", onSigint);
    }
  } finally {
    client.close();
  }
}

/** Registers the `admin` subcommand. */
export function register(program: Command): void {
  program.command("admin")
    .description("control a running daemon: reload, status, enable/disable, bans, broadcasts, logs")
    .argument("[command...]", "a command to run once (none: interactive shell)")
    .option("-s, --socket <path>", "control socket (default: admin.socket of the config)")
    .option("-c, --config <file>", "daemon config whose admin.socket to use")
    .option("--json", "print the raw JSON result")
    .allowUnknownOption()
    .addHelpText(
      "after",
      `
Commands:
${helpText()}

Exit status: 0 ok, 1 the daemon refused or failed, 2 usage error.
Without a command: an interactive shell (history in ~/.siglatch_history, Tab completes
commands and names, Ctrl-C clears the line, Ctrl-D exits).

Examples:
  siglatch admin status
  siglatch admin --config /etc/siglatch/siglatchd.yaml reload
  siglatch admin disable action deploy --persist
  siglatch admin broadcast "maintenance at 18:00" --level warning --ttl 2h
  siglatch admin logs --follow --decisions
  siglatch admin --json list users`,
    )
    .action(async (words: string[], flags: AdminFlags) => {
      const code = await admin(words, flags);
      if (code !== 0) throw new CliError("", code);
    });
}

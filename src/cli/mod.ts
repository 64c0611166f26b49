/**
 * The `siglatch` command line: one module per subcommand, each exporting `register`.
 * Exit status: 0 ok, 1 failure, 2 usage error.
 * @module
 */
import { Command, CommanderError } from "commander";
import { CliError } from "./errors.ts";
import { VERSION } from "../version.ts";
import * as version from "./version.ts";

/** A subcommand module. */
export interface SubcommandModule {
  /** Adds the subcommand to the program. */
  register(program: Command): void;
}

const SUBCOMMANDS: SubcommandModule[] = [version];

/** Adds more subcommand modules (kept in one list so help shows them in order). */
export function addSubcommands(...mods: SubcommandModule[]): void {
  SUBCOMMANDS.push(...mods);
}

/** Builds the commander program with every subcommand registered. */
export function buildProgram(): Command {
  const program = new Command("siglatch")
    .description(
      "siglatch: single-packet authorization.\n" +
        "The daemon (serve) keeps ports closed and runs an allowed action for an\n" +
        "authenticated, encrypted UDP packet; the client (send, open) sends them.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeErr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)),
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    });
  for (const mod of SUBCOMMANDS) mod.register(program);
  for (const cmd of program.commands) {
    cmd.exitOverride().showHelpAfterError("(run with --help for usage)");
    cmd.configureOutput(program.configureOutput());
  }
  return program;
}

/** Runs the CLI with `args` and returns the process exit status. */
export async function runCli(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === "commander.helpDisplayed" || err.code === "commander.version" ||
        err.code === "commander.help"
      ) return 0;
      return 2;
    }
    if (err instanceof CliError) {
      if (err.message) console.error(`siglatch: ${err.message}`);
      return err.exitCode;
    }
    console.error(`siglatch: internal error: ${err instanceof Error ? err.stack : String(err)}`);
    return 1;
  }
}

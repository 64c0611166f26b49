/**
 * `siglatch invite create …` and `siglatch users list|show|revoke|extend …`: the
 * enrollment commands of a running daemon, over its control socket (the same requests as
 * `siglatch admin invite …` / `siglatch admin users …`; docs/KEYS.md).
 * @module
 */
import type { Command } from "commander";
import { admin, type AdminFlags } from "./admin.ts";
import { CliError } from "./errors.ts";

function registerOne(program: Command, name: string, description: string, after: string): void {
  program.command(name)
    .description(description)
    .argument("[words...]", "what to do (see below)")
    .option("-s, --socket <path>", "control socket (default: admin.socket of the config)")
    .option("-c, --config <file>", "daemon config whose admin.socket to use")
    .option("--json", "print the raw JSON result")
    .allowUnknownOption()
    .addHelpText("after", after)
    .action(async (words: string[], flags: AdminFlags) => {
      const code = await admin([name, ...words], flags);
      if (code !== 0) throw new CliError("", code);
    });
}

/** Registers `invite` and `users`. */
export function register(program: Command): void {
  registerOne(
    program,
    "invite",
    "make a one-time invite a guest turns into a profile with `siglatch enroll`",
    `
Usage: siglatch invite create --config FILE --name NAME --actions A,B [--expires 2h]
         [--uses N] [--approve] [--host HOST] [--server NAME]

Prints the invite (sli1.…): hand it over as a secret. It works once, until --expires
(default 24h), which is also how long the enrolled user lives; --uses is its max_uses;
--approve makes the enrollment wait for \`siglatch admin approve ID\`.`,
  );
  registerOne(
    program,
    "users",
    "enrolled users and open invites of a running daemon",
    `
Usage: siglatch users list | show NAME | revoke NAME | extend NAME --for DURATION`,
  );
}

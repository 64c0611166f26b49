/**
 * `siglatch schema`: prints (or writes) the JSON Schema of the siglatchd config, for
 * editors (yaml-language-server) and other tools.
 *
 * @module
 */
import type { Command } from "commander";
import { CliError } from "./errors.ts";
import { configJsonSchema } from "../config/schema.ts";

/** The JSON Schema as the text `siglatch schema` prints (2-space indent, final newline). */
export function configJsonSchemaText(): string {
  return JSON.stringify(configJsonSchema(), null, 2) + "\n";
}

/** Registers the `schema` subcommand. */
export function register(program: Command): void {
  program.command("schema")
    .description("print the JSON Schema (draft 2020-12) of the siglatchd config")
    .option("-o, --out <file>", "write it to FILE instead of standard output")
    .addHelpText(
      "after",
      `
Editors that speak yaml-language-server complete and check the config when its first
line is:
  # yaml-language-server: $schema=/usr/share/siglatch/siglatchd.schema.json

Examples:
  siglatch schema > siglatchd.schema.json
  siglatch schema --out docs/siglatchd.schema.json`,
    )
    .action(async (opts: { out?: string }) => {
      const text = configJsonSchemaText();
      if (!opts.out) {
        await Deno.stdout.write(new TextEncoder().encode(text));
        return;
      }
      try {
        await Deno.writeTextFile(opts.out, text);
      } catch (err) {
        throw new CliError(`cannot write ${opts.out}: ${err instanceof Error ? err.message : err}`);
      }
    });
}

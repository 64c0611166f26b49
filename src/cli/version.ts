/**
 * `siglatch version`: prints the release and wire protocol versions.
 * @module
 */
import type { Command } from "commander";
import { PROTOCOL_VERSIONS, VERSION } from "../version.ts";

/** Registers the `version` subcommand. */
export function register(program: Command): void {
  program.command("version")
    .description("print the siglatch version and the wire protocol versions it speaks")
    .option("--json", "machine-readable output")
    .action((opts: { json?: boolean }) => {
      const info = { version: VERSION, protocol: [...PROTOCOL_VERSIONS], deno: Deno.version.deno };
      console.log(
        opts.json
          ? JSON.stringify(info)
          : `siglatch ${info.version} (protocol v${info.protocol.join(",v")}, deno ${info.deno})`,
      );
    });
}

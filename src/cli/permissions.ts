/**
 * `siglatch permissions [FILE]`: prints the exact `deno run` flags the daemon needs for a config.
 * @module
 */
import type { Command } from "commander";
import { loadConfigOrFail } from "./serve.ts";
import { permissionFlags } from "../daemon/permissions.ts";

/** Registers the `permissions` subcommand. */
export function register(program: Command): void {
  program.command("permissions")
    .description("print the exact deno permission flags the daemon needs for a config")
    .argument("[file]", "config file", "/etc/siglatch/siglatchd.yaml")
    .option("--json", "print the flags as a JSON array")
    .addHelpText(
      "after",
      `
The daemon parses network input; it should hold only what its config uses. Run it as:
  deno run $(siglatch permissions /etc/siglatch/siglatchd.yaml) main.ts serve -c /etc/siglatch/siglatchd.yaml`,
    )
    .action(async (file: string, o: { json?: boolean }) => {
      const config = await loadConfigOrFail(file);
      const flags = permissionFlags(config, await Deno.realPath(file));
      console.log(o.json ? JSON.stringify(flags) : flags.join(" "));
    });
}

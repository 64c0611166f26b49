/**
 * Entry point of `siglatch` (client, daemon and tools): parses argv and hands over to src/cli.
 * @module
 */
import { runCli } from "./src/cli/mod.ts";
import "./src/cli/all.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}

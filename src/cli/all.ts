/**
 * Registers every subcommand module with the CLI. Add new subcommands here.
 * @module
 */
import { addSubcommands } from "./mod.ts";

addSubcommands();

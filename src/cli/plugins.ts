/**
 * `siglatch plugins list|check [-c FILE]`: the plugins of `plugins.dir` as the daemon
 * would load them. `list` prints one line per loaded plugin (name, kind, actions, folder);
 * `check` prints every refused plugin and every plugin action that cannot run, and exits 1
 * when there is any.
 * @module
 */
import type { Command } from "commander";
import { CliError } from "./errors.ts";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../config/load.ts";
import { loadPlugins, pluginActionErrors, type PluginSet } from "../plugins/registry.ts";
import type { Config } from "../config/schema.ts";

async function load(path: string): Promise<{ config: Config; set: PluginSet }> {
  const res = await loadConfig(path, { checkFiles: false });
  if (!res.ok) {
    throw new CliError(
      res.findings.filter((f) => f.severity === "error")
        .map((f) => `${f.file}:${f.line}:${f.col}: ${f.path}: ${f.message}`).join("\n"),
    );
  }
  return { config: res.config, set: await loadPlugins(res.config.plugins.dir) };
}

function out(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text));
}

/** Registers the `plugins` subcommand. */
export function register(program: Command): void {
  const cmd = program.command("plugins")
    .description("list and check the plugins of plugins.dir (docs/PLUGINS.md)");
  cmd.command("list")
    .description("one line per loaded plugin: name, kind, actions, folder")
    .option("-c, --config <file>", "config file", DEFAULT_CONFIG_PATH)
    .option("--json", "print JSON")
    .action(async (opts: { config: string; json?: boolean }) => {
      const { set } = await load(opts.config);
      const rows = [...set.plugins.values()].map((p) => ({
        name: p.manifest.name,
        kind: p.manifest.kind,
        actions: p.manifest.actions,
        dir: p.dir,
      }));
      if (opts.json) return out(JSON.stringify({ plugins: rows, errors: set.errors }) + "\n");
      for (const r of rows) out(`${r.name}\t${r.kind}\t${r.actions.join(",")}\t${r.dir}\n`);
      if (set.errors.length > 0) {
        out(`(${set.errors.length} refused: run siglatch plugins check)\n`);
      }
    });
  cmd.command("check")
    .description("print refused plugins and plugin actions that cannot run; exit 1 if any")
    .option("-c, --config <file>", "config file", DEFAULT_CONFIG_PATH)
    .action(async (opts: { config: string }) => {
      const { config, set } = await load(opts.config);
      const problems = [...set.errors, ...pluginActionErrors(set, config.actions)];
      for (const p of problems) Deno.stderr.writeSync(new TextEncoder().encode(`error: ${p}\n`));
      out(`${set.plugins.size} plugin(s) loaded, ${problems.length} problem(s)\n`);
      if (problems.length > 0) throw new CliError("plugin check failed", 1);
    });
}

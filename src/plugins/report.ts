/**
 * Logs what the plugins of a runtime are, by the process that runs them (the single
 * daemon, or the privileged part): at start every loaded and every refused plugin, on
 * reload what was added, changed and removed, and every plugin action that cannot run.
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { ActionConfig } from "../config/schema.ts";
import { diffPlugins, pluginActionErrors, type PluginSet } from "./registry.ts";

/** Logs `next` (after `before` on a reload). */
export function logPlugins(
  log: Logger,
  next: PluginSet | undefined,
  actions: readonly ActionConfig[],
  before?: PluginSet,
): void {
  if (!next) return;
  if (before) {
    const d = diffPlugins(before, next);
    if (d.added.length + d.changed.length + d.removed.length > 0) {
      log.info("plugins reloaded: added={added} changed={changed} removed={removed}", {
        added: d.added.join(",") || "-",
        changed: d.changed.join(",") || "-",
        removed: d.removed.join(",") || "-",
      });
    }
  } else if (next.plugins.size > 0) {
    log.info("plugins loaded: {names}", {
      names: [...next.plugins.values()].map((p) => `${p.manifest.name}(${p.manifest.kind})`)
        .join(", "),
    });
  }
  for (const error of next.errors) log.error("plugin refused: {error}", { error });
  for (const error of pluginActionErrors(next, actions)) {
    log.error("plugin action cannot run: {error}", { error });
  }
}

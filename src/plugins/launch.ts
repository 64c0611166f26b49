/**
 * The argv a plugin action runs with, for the exec runner: an exec plugin's entry itself;
 * a module or native plugin's host (`module_host.ts`, `native_host.ts`) under `deno run`
 * with only the permissions that host needs. Every kind thereby runs as a child of the
 * runner: run_as user, cleared environment, timeout on the process group, output cap.
 * @module
 */
import type { LoadedPlugin } from "./registry.ts";

const MODULE_HOST = new URL("./module_host.ts", import.meta.url).pathname;
const NATIVE_HOST = new URL("./native_host.ts", import.meta.url).pathname;

/** `--allow-NAME=a,b` for a non-empty list, nothing for an empty one. */
function allow(name: string, list: readonly string[]): string[] {
  return list.length > 0 ? [`--allow-${name}=${list.join(",")}`] : [];
}

/** Deno flags every host runs with: no prompt, no config or lock file of the plugin's folder. */
const BASE = ["run", "--no-prompt", "--no-config", "--no-lock", "--quiet"];

/**
 * The argv of one run of `action` of `plugin`; `outputCap` sizes a native plugin's
 * output buffer.
 */
export function pluginArgv(plugin: LoadedPlugin, action: string, outputCap: number): string[] {
  const m = plugin.manifest;
  if (m.kind === "exec") return [plugin.entry, action];
  const deno = Deno.execPath();
  if (m.kind === "native") {
    return [
      deno,
      ...BASE,
      `--allow-ffi=${plugin.entry}`,
      `--allow-read=${plugin.entry}`,
      NATIVE_HOST,
      plugin.entry,
      String(Math.max(1, outputCap)),
    ];
  }
  const p = m.permissions ?? { read: [], write: [], net: [], env: [], run: [], sys: [] };
  const abs = (x: string) => (x.startsWith("/") ? x : `${plugin.dir}/${x}`);
  const read = p.read.map(abs);
  const write = p.write.map(abs);
  return [
    deno,
    ...BASE,
    "--unstable-worker-options",
    `--allow-read=${[plugin.dir, ...read].join(",")}`,
    "--allow-env",
    ...allow("write", write),
    ...allow("net", p.net),
    ...allow("run", p.run),
    ...allow("sys", p.sys),
    MODULE_HOST,
    plugin.entry,
    JSON.stringify({ read, write, net: p.net, env: p.env, run: p.run, sys: p.sys }),
    action,
  ];
}

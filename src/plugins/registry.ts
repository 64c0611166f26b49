/**
 * Loading plugins from `plugins.dir`: every sub-folder with a `plugin.json` is one plugin.
 * A broken plugin (bad manifest, missing or unsafe entry, duplicate name) is left out with
 * an error naming its file and field; the others load. Loaded at start and on every reload,
 * so added, changed and removed plugins take effect then (`diffPlugins` names them).
 * @module
 */
import { join } from "node:path";
import { createHash } from "node:crypto";
import type { ActionConfig } from "../config/schema.ts";
import { checkPluginConfig, type Manifest, parseManifest } from "./manifest.ts";

/** The manifest file in each plugin folder. */
export const MANIFEST_FILE = "plugin.json";
/** Most plugin folders read (more are refused with an error). */
export const MAX_PLUGINS = 256;
/** Longest manifest read. */
const MAX_MANIFEST_BYTES = 64 * 1024;

/** A plugin that loaded. */
export interface LoadedPlugin {
  /** Its manifest. */
  manifest: Manifest;
  /** Its folder (absolute, symlinks resolved). */
  dir: string;
  /** Its entry file (absolute, symlinks resolved, inside `dir`). */
  entry: string;
  /** Changes when the manifest or the entry changes (for reload reports). */
  fingerprint: string;
}

/** Every plugin of a folder, and why the others did not load. */
export interface PluginSet {
  /** The folder read (undefined: `plugins.dir` not set). */
  dir?: string;
  /** Loaded plugins by manifest name. */
  plugins: Map<string, LoadedPlugin>;
  /** One line per refused plugin: `path: field: problem`. */
  errors: string[];
}

/** No plugins. */
export function emptyPlugins(): PluginSet {
  return { plugins: new Map(), errors: [] };
}

/** Refuses group- or world-writable files: whoever can write them could run code as us. */
function unsafeMode(info: Deno.FileInfo): string | undefined {
  if (info.mode !== null && (info.mode & 0o022) !== 0) {
    return "is writable by group or others (chmod go-w)";
  }
  const me = Deno.uid();
  if (info.uid !== null && me !== null && info.uid !== 0 && info.uid !== me) {
    return `is owned by uid ${info.uid}, not root or the daemon's user`;
  }
  return undefined;
}

async function loadOne(folder: string): Promise<LoadedPlugin | string> {
  const file = join(folder, MANIFEST_FILE);
  let text: string;
  try {
    const info = await Deno.stat(file);
    if (!info.isFile) return `${file}: not a file`;
    if (info.size > MAX_MANIFEST_BYTES) return `${file}: larger than ${MAX_MANIFEST_BYTES} bytes`;
    const bad = unsafeMode(info);
    if (bad) return `${file}: ${bad}`;
    text = await Deno.readTextFile(file);
  } catch (err) {
    return `${file}: ${err instanceof Error ? err.message : String(err)}`;
  }
  const manifest = parseManifest(text);
  if (Array.isArray(manifest)) return manifest.map((m) => `${file}: ${m}`).join("; ");
  let dir: string;
  let entry: string;
  let info: Deno.FileInfo;
  try {
    dir = await Deno.realPath(folder);
    entry = await Deno.realPath(join(folder, manifest.entry));
    info = await Deno.stat(entry);
  } catch (err) {
    return `${file}: entry: ${manifest.entry}: ${err instanceof Error ? err.message : err}`;
  }
  if (!entry.startsWith(dir + "/")) return `${file}: entry: ${manifest.entry} leaves the folder`;
  if (!info.isFile) return `${file}: entry: ${manifest.entry} is not a file`;
  const bad = unsafeMode(info);
  if (bad) return `${file}: entry: ${manifest.entry} ${bad}`;
  if (manifest.kind === "exec" && ((info.mode ?? 0) & 0o111) === 0) {
    return `${file}: entry: ${manifest.entry} is not executable (chmod +x)`;
  }
  if (manifest.kind === "module" && !/\.(ts|js|mjs|mts)$/.test(entry)) {
    return `${file}: entry: a module plugin's entry is a .ts, .js, .mts or .mjs file`;
  }
  const fingerprint = createHash("sha256").update(text)
    .update(`${entry}\0${info.size}\0${info.mtime?.getTime() ?? 0}\0${info.mode}`).digest("hex");
  return { manifest, dir, entry, fingerprint };
}

/** Reads every plugin under `dir`; never throws (errors go into the set). */
export async function loadPlugins(dir: string | undefined): Promise<PluginSet> {
  const set: PluginSet = { dir, plugins: new Map(), errors: [] };
  if (dir === undefined) return set;
  const folders: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory || e.isSymlink) folders.push(e.name);
    }
  } catch (err) {
    set.errors.push(`plugins.dir: ${dir}: ${err instanceof Error ? err.message : String(err)}`);
    return set;
  }
  folders.sort();
  if (folders.length > MAX_PLUGINS) {
    set.errors.push(`plugins.dir: ${dir}: more than ${MAX_PLUGINS} folders; the rest are ignored`);
    folders.length = MAX_PLUGINS;
  }
  for (const name of folders) {
    const r = await loadOne(join(dir, name));
    if (typeof r === "string") set.errors.push(r);
    else if (set.plugins.has(r.manifest.name)) {
      set.errors.push(
        `${join(dir, name, MANIFEST_FILE)}: name: ${r.manifest.name} is already the name of ` +
          `${set.plugins.get(r.manifest.name)!.dir}`,
      );
    } else set.plugins.set(r.manifest.name, r);
  }
  return set;
}

/** The plugin and plugin action an action runs, or why it cannot. */
export function resolvePluginAction(
  set: PluginSet,
  a: ActionConfig,
): { plugin: LoadedPlugin; action: string } | string {
  if (a.type !== "plugin" || !a.plugin) return `action ${a.name} is not a plugin action`;
  const plugin = set.plugins.get(a.plugin.name);
  if (!plugin) {
    return `actions.${a.name}.plugin.name: no loaded plugin ${a.plugin.name}` +
      (set.dir === undefined ? " (plugins.dir is not set)" : ` in ${set.dir}`);
  }
  const action = a.plugin.action ?? plugin.manifest.actions[0];
  if (!plugin.manifest.actions.includes(action)) {
    return `actions.${a.name}.plugin.action: ${a.plugin.name} provides ` +
      `${plugin.manifest.actions.join(", ")}, not ${action}`;
  }
  const problems = checkPluginConfig(plugin.manifest, a.plugin.config);
  if (problems.length > 0) return problems.map((p) => `actions.${a.name}.plugin.${p}`).join("; ");
  return { plugin, action };
}

/** Every problem of a config's plugin actions against `set` (for `check` and logs). */
export function pluginActionErrors(set: PluginSet, actions: readonly ActionConfig[]): string[] {
  const out: string[] = [];
  for (const a of actions) {
    if (a.type !== "plugin") continue;
    const r = resolvePluginAction(set, a);
    if (typeof r === "string") out.push(r);
  }
  return out;
}

/** What a reload changed: plugin names added, changed (manifest or entry) and removed. */
export function diffPlugins(
  before: PluginSet,
  after: PluginSet,
): { added: string[]; changed: string[]; removed: string[] } {
  const added: string[] = [];
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [name, p] of after.plugins) {
    const old = before.plugins.get(name);
    if (!old) added.push(name);
    else if (old.fingerprint !== p.fingerprint) changed.push(name);
  }
  for (const name of before.plugins.keys()) if (!after.plugins.has(name)) removed.push(name);
  return { added, changed, removed };
}

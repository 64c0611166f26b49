/**
 * A plugin's manifest (`plugin.json` in its folder): name, kind, entry, the Deno
 * permissions of a module plugin, the actions it provides and the schema of the settings
 * an action gives it. docs/PLUGINS.md describes every field.
 * @module
 */
import { z } from "zod";

/** How a plugin runs. */
export const PLUGIN_KINDS = ["exec", "module", "native"] as const;

const PermissionList = z.array(z.string().min(1).max(4096)).max(64).default([]);

/** The Deno permissions a module plugin's Worker gets (nothing else). */
export const PluginPermissionsSchema = z.strictObject({
  read: PermissionList,
  write: PermissionList,
  net: PermissionList,
  env: PermissionList,
  run: PermissionList,
  sys: PermissionList,
});

/** One setting of a plugin's config schema. */
export const PluginSettingSchema = z.strictObject({
  type: z.enum(["string", "number", "boolean"]),
  required: z.boolean().default(false),
  description: z.string().max(500).optional(),
});

const PluginName = z.string().regex(
  /^[a-z0-9][a-z0-9_.-]{0,62}$/,
  "lower-case letters, digits, _ . - (at most 63, starting with a letter or digit)",
);

/** The whole manifest. */
export const ManifestSchema = z.strictObject({
  name: PluginName,
  kind: z.enum(PLUGIN_KINDS),
  entry: z.string().min(1).max(255).refine(
    (e) => !e.startsWith("/") && !e.split("/").includes(".."),
    {
      message: "a path inside the plugin folder (no leading /, no ..)",
    },
  ),
  description: z.string().max(500).optional(),
  permissions: PluginPermissionsSchema.optional(),
  actions: z.array(PluginName).min(1).max(64),
  config: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,62}$/), PluginSettingSchema).default({}),
}).superRefine((m, ctx) => {
  if (m.permissions !== undefined && m.kind !== "module") {
    ctx.addIssue({
      code: "custom",
      path: ["permissions"],
      message: `only module plugins declare Deno permissions (this one is ${m.kind}: it runs ` +
        "as the action's run_as user)",
    });
  }
  if (new Set(m.actions).size !== m.actions.length) {
    ctx.addIssue({ code: "custom", path: ["actions"], message: "an action is named twice" });
  }
});

/** A validated manifest. */
export type Manifest = z.output<typeof ManifestSchema>;
/** A module plugin's permissions. */
export type PluginPermissions = z.output<typeof PluginPermissionsSchema>;

/** Parses manifest text; returns the manifest or `field: message` lines. */
export function parseManifest(text: string): Manifest | string[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return [`not JSON: ${err instanceof Error ? err.message : String(err)}`];
  }
  const res = ManifestSchema.safeParse(raw);
  if (res.success) return res.data;
  return res.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
}

/**
 * Checks an action's `plugin.config` against the manifest's schema: unknown keys, wrong
 * types and missing required settings. Returns the problems (empty when it fits).
 */
export function checkPluginConfig(
  manifest: Manifest,
  config: Record<string, string | number | boolean>,
): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    const setting = manifest.config[key];
    if (!setting) out.push(`config.${key}: plugin ${manifest.name} has no setting ${key}`);
    else if (typeOf(value) !== setting.type) {
      out.push(`config.${key}: expected a ${setting.type}, got a ${typeof value}`);
    }
  }
  for (const [key, setting] of Object.entries(manifest.config)) {
    if (setting.required && !(key in config)) {
      out.push(`config.${key}: required by ${manifest.name}`);
    }
  }
  return out;
}

function typeOf(v: unknown): string {
  return typeof v;
}

/**
 * `include:` globs (relative to the main file's directory) and merging included files
 * into the main config: list sections are concatenated, a scalar section may be set in
 * one file only.
 *
 * The glob is deliberately small: `*` and `?` in the last path segment, sorted results.
 *
 * @module
 */
import { dirname, isAbsolute, join } from "node:path";
import type { Finding } from "./findings.ts";
import { LIST_SECTIONS, offsetInDocument, type Origins } from "./positions.ts";
import type { ParsedFile } from "./source.ts";
import { describeFsError } from "./source.ts";

/** True when `name` matches the glob segment `pattern` (`*` any run, `?` one character). */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    "^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") +
      "$",
    "s",
  );
  // Like a shell, `*` does not match hidden files unless the pattern starts with a dot.
  if (name.startsWith(".") && !pattern.startsWith(".")) return false;
  return re.test(name);
}

/** Expands one include pattern relative to `baseDir`; sorted paths, or an error message. */
export async function expandGlob(pattern: string, baseDir: string): Promise<string[] | string> {
  const full = isAbsolute(pattern) ? pattern : join(baseDir, pattern);
  const dir = dirname(full);
  const last = full.slice(dir.length + 1);
  if (/[*?]/.test(dir)) return "wildcards are only supported in the last path segment";
  if (!/[*?]/.test(last)) {
    try {
      await Deno.stat(full);
      return [full];
    } catch (err) {
      return `${full}: ${describeFsError(err)}`;
    }
  }
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if ((entry.isFile || entry.isSymlink) && globMatch(last, entry.name)) {
        found.push(join(dir, entry.name));
      }
    }
  } catch (err) {
    // A missing conf.d directory with a wildcard just matches nothing, as in a shell loop.
    if (err instanceof Deno.errors.NotFound) return [];
    return `${dir}: ${describeFsError(err)}`;
  }
  return found.sort();
}

/** The include patterns of the main file's data, as a list (invalid shapes are left to zod). */
export function includePatterns(data: Record<string, unknown>): string[] {
  const inc = data.include;
  if (typeof inc === "string") return [inc];
  if (Array.isArray(inc) && inc.every((p) => typeof p === "string")) return inc;
  return [];
}

/** The merged data and where every part of it came from. */
export interface Merged {
  /** The merged plain data, ready for the schema. */
  data: Record<string, unknown>;
  /** Origins for positions and relative paths. */
  origins: Origins;
  /** Conflicts and misplaced keys. */
  findings: Finding[];
}

function at(pf: ParsedFile, path: PropertyKey[], target: "value" | "key" = "key") {
  const { line, col } = pf.lines.linePos(offsetInDocument(pf, path, target));
  return { file: pf.file, line, col };
}

/** Merges parsed files (main first): lists concatenate, other sections must not repeat. */
export function mergeFiles(files: ParsedFile[]): Merged {
  const data: Record<string, unknown> = {};
  const origins: Origins = { items: new Map(), sections: new Map() };
  const findings: Finding[] = [];
  const listSections: readonly string[] = LIST_SECTIONS;
  files.forEach((pf, fileIndex) => {
    for (const [key, value] of Object.entries(pf.data)) {
      if (fileIndex > 0 && key === "include") {
        findings.push({
          severity: "error",
          ...at(pf, [key]),
          path: key,
          message: "include is only allowed in the main config file",
          code: "include.nested",
        });
        continue;
      }
      const first = origins.sections.get(key);
      if (listSections.includes(key) && Array.isArray(value)) {
        const prev = data[key];
        if (first === undefined || Array.isArray(prev)) {
          const items = origins.items.get(key) ?? [];
          value.forEach((_, index) => items.push({ file: fileIndex, index }));
          origins.items.set(key, items);
          data[key] = [...(Array.isArray(prev) ? prev : []), ...value];
          if (first === undefined) origins.sections.set(key, fileIndex);
          continue;
        }
      }
      if (first === undefined) {
        origins.sections.set(key, fileIndex);
        data[key] = value;
        continue;
      }
      const where = at(files[first], [key]);
      findings.push({
        severity: "error",
        ...at(pf, [key]),
        path: key,
        message: listSections.includes(key)
          ? `${key} must be a list in every file that sets it (also set at ${where.file}:${where.line}:${where.col})`
          : `${key} is already set at ${where.file}:${where.line}:${where.col}; only ` +
            `${LIST_SECTIONS.join(", ")} may be split across files`,
        code: "include.conflict",
      });
    }
  });
  return { data, origins, findings };
}

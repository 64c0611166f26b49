/**
 * Loading a siglatchd config: read the YAML (with includes), validate it with the zod
 * schema, report every problem at once as `file:line:col: path: message`, make relative
 * paths absolute, and lint what the schema cannot see (references, duplicates, files).
 *
 * @example
 * ```ts
 * const res = await loadConfig("/etc/siglatch/siglatchd.yaml");
 * if (!res.ok) for (const f of res.findings) console.error(formatFinding(f));
 * ```
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { type Finding, formatPath, sortFindings } from "./findings.ts";
import { expandGlob, includePatterns, mergeFiles } from "./include.ts";
import { issuesToFindings } from "./issues.ts";
import { lintConfig } from "./lint.ts";
import { resolveConfigPaths } from "./paths.ts";
import { offsetInDocument, SourceMap } from "./positions.ts";
import { type Config, ConfigSchema } from "./schema.ts";
import { parseConfigFile, parseConfigText, type ParsedFile, type ParseOutcome } from "./source.ts";

export type { Finding } from "./findings.ts";
export { formatFinding } from "./findings.ts";

/** The default config path of the daemon and of `siglatch check`. */
export const DEFAULT_CONFIG_PATH = "/etc/siglatch/siglatchd.yaml";

/** Options of {@linkcode loadConfig}. */
export interface LoadOptions {
  /** Run {@linkcode lintConfig} after validation (default true); its errors fail the load. */
  lint?: boolean;
  /** Let the linter look at the file system: key files, executables, run_as users (default false). */
  checkFiles?: boolean;
}

/** The outcome of loading a config. */
export type LoadResult =
  | {
    ok: true;
    /** The validated config; every file path in it is absolute. */
    config: Config;
    /** Warnings (no errors). */
    findings: Finding[];
    /** Files read: the main file first, then included files in order. */
    files: string[];
    /** Maps config paths to file positions (for later findings, e.g. a reload diff). */
    sources: SourceMap;
  }
  | {
    ok: false;
    /** Every error, and the warnings found on the way, sorted by file and position. */
    findings: Finding[];
    /** Files read, when the main file could be parsed. */
    files?: string[];
  };

/** Loads, validates and lints the config file at `path` (and the files it includes). */
export async function loadConfig(path: string, opts: LoadOptions = {}): Promise<LoadResult> {
  try {
    return await loadParsed(await parseConfigFile(path, path), path, opts);
  } catch (err) {
    return internalFailure(path, err);
  }
}

/** Like {@linkcode loadConfig} for YAML text; `fileName` names it and anchors relative paths. */
export async function loadConfigText(
  text: string,
  fileName: string,
  opts: LoadOptions = {},
): Promise<LoadResult> {
  try {
    return await loadParsed(parseConfigText(text, fileName), fileName, opts);
  } catch (err) {
    return internalFailure(fileName, err);
  }
}

function internalFailure(file: string, err: unknown): LoadResult {
  const message = err instanceof RangeError
    ? "config is nested too deeply"
    : `cannot load: ${err instanceof Error ? err.message : String(err)}`;
  return {
    ok: false,
    findings: [{
      severity: "error",
      file,
      line: 1,
      col: 1,
      path: "",
      message,
      code: "load.failed",
    }],
  };
}

async function readIncludes(
  main: ParsedFile,
  mainPath: string,
): Promise<{ files: { parsed: ParsedFile; dir: string }[]; findings: Finding[] }> {
  const findings: Finding[] = [];
  const files: { parsed: ParsedFile; dir: string }[] = [];
  const mainAbs = resolve(mainPath);
  const baseDir = dirname(mainAbs);
  const seen = new Set([mainAbs]);
  const patterns = includePatterns(main.data);
  for (const [i, pattern] of patterns.entries()) {
    const where = Array.isArray(main.data.include) ? ["include", i] : ["include"];
    const expanded = await expandGlob(pattern, baseDir);
    if (typeof expanded === "string") {
      const { line, col } = main.lines.linePos(offsetInDocument(main, where));
      findings.push({
        severity: "error",
        file: main.file,
        line,
        col,
        path: formatPath(where),
        message: `include ${JSON.stringify(pattern)}: ${expanded}`,
        code: "include.unreadable",
      });
      continue;
    }
    for (const abs of expanded) {
      if (seen.has(abs)) continue;
      seen.add(abs);
      const display = join(dirname(mainPath), relative(baseDir, abs));
      const outcome = await parseConfigFile(abs, display, { allowEmpty: true });
      findings.push(...outcome.findings);
      if (outcome.ok) files.push({ parsed: outcome.parsed, dir: dirname(abs) });
    }
  }
  return { files, findings };
}

async function loadParsed(
  main: ParseOutcome,
  mainPath: string,
  opts: LoadOptions,
): Promise<LoadResult> {
  if (!main.ok) return { ok: false, findings: sortFindings(main.findings) };
  const findings = [...main.findings];
  const included = await readIncludes(main.parsed, mainPath);
  findings.push(...included.findings);
  const parsedFiles = [main.parsed, ...included.files.map((f) => f.parsed)];
  const dirs = new Map<ParsedFile, string>([
    [main.parsed, dirname(resolve(mainPath))],
    ...included.files.map((f) => [f.parsed, f.dir] as const),
  ]);
  const merged = mergeFiles(parsedFiles);
  findings.push(...merged.findings);
  const sources = new SourceMap(parsedFiles, merged.origins);

  const result = ConfigSchema.safeParse(merged.data);
  if (!result.success) {
    findings.push(...issuesToFindings(result.error.issues, ConfigSchema, merged.data, sources));
  }
  const order = sources.files;
  if (!result.success || findings.some((f) => f.severity === "error")) {
    return { ok: false, findings: sortFindings(findings, order), files: order };
  }
  const config = resolveConfigPaths(result.data, (p) => dirs.get(sources.resolve(p).file)!);
  if (opts.lint !== false) {
    findings.push(...lintConfig(config, sources.files, {
      sources,
      checkFiles: opts.checkFiles ?? false,
    }));
  }
  if (findings.some((f) => f.severity === "error")) {
    return { ok: false, findings: sortFindings(findings, order), files: order };
  }
  return { ok: true, config, findings: sortFindings(findings, order), files: order, sources };
}

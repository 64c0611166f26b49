/**
 * What every lint rule writes to: the options of one lint run and a {@linkcode Reporter}
 * that turns a config path into a finding at its file:line:col. A leaf, so the rule
 * modules (lint.ts, lint_files.ts) import it and not each other.
 * @module
 */
import type { Finding, Severity } from "./findings.ts";
import { formatPath } from "./findings.ts";
import type { SourceMap, Target } from "./positions.ts";

/** Options of `lintConfig` (src/config/lint.ts). */
export interface LintOptions {
  /** Positions from the loader; without it findings point at line 1 of the first file. */
  sources?: SourceMap;
  /** Also check key files, executables and run_as users on this machine (default false). */
  checkFiles?: boolean;
  /** "Now" for expiry checks (epoch ms; default Date.now()). */
  now?: number;
  /** Where to read users and groups from (tests). */
  passwdFile?: string;
  /** Where to read groups from (tests). */
  groupFile?: string;
}

/** Builds findings at config paths, located through the loader's source map when given. */
export class Reporter {
  /** Findings so far. */
  readonly findings: Finding[] = [];
  readonly #sources?: SourceMap;
  readonly #file: string;

  /** Creates a reporter for `files` (the main file first). */
  constructor(files: readonly string[], sources?: SourceMap) {
    this.#sources = sources;
    this.#file = files[0] ?? "<config>";
  }

  /** Where a path is written, as `servers[0].name at file:line:col` (the path local to that file). */
  where(path: readonly PropertyKey[]): string {
    const loc = this.#locate(path, "value");
    return `${loc.path} at ${loc.file}:${loc.line}:${loc.col}`;
  }

  #locate(path: readonly PropertyKey[], target: Target) {
    return this.#sources?.locate(path, target) ??
      { file: this.#file, line: 1, col: 1, path: formatPath(path) };
  }

  /** Adds a finding about the value at `path`. */
  add(severity: Severity, path: readonly PropertyKey[], message: string, code: string): void {
    this.findings.push({ severity, ...this.#locate(path, "value"), message, code: `lint.${code}` });
  }

  /** Adds an error. */
  error(path: readonly PropertyKey[], message: string, code: string): void {
    this.add("error", path, message, code);
  }

  /** Adds a warning. */
  warn(path: readonly PropertyKey[], message: string, code: string): void {
    this.add("warning", path, message, code);
  }
}

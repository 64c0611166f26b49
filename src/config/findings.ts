/**
 * Findings: what `siglatch check` and the loader report, each with the file, line and
 * column it is about, so an operator can jump straight to the offending line.
 *
 * @module
 */

/** How bad a finding is: errors make the config unusable, warnings do not. */
export type Severity = "error" | "warning";

/** One problem found in a config, located in the file that contains it. */
export interface Finding {
  /** `error` refuses the config; `warning` is advice. */
  severity: Severity;
  /** The file the finding is in (as given, or the include path). */
  file: string;
  /** 1-based line; 1 when there is no better place. */
  line: number;
  /** 1-based column. */
  col: number;
  /** The field path inside that file, such as `servers[0].listen[1]`; empty for the file. */
  path: string;
  /** What is wrong and, where possible, what would be right. */
  message: string;
  /** A stable machine-readable code such as `yaml.syntax`, `schema.invalid_type`, `lint.duplicate`. */
  code: string;
}

/** Formats a finding as `file:line:col: path: message` (no path part when the path is empty). */
export function formatFinding(f: Finding, withSeverity = false): string {
  const sev = withSeverity ? `${f.severity}: ` : "";
  const where = f.path ? `${f.path}: ` : "";
  return `${f.file}:${f.line}:${f.col}: ${sev}${where}${f.message}`;
}

/** Formats a path of keys and indexes as `servers[0].listen[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** Sorts findings by file (in `fileOrder` first, then by name), line, column; stable. */
export function sortFindings(
  findings: readonly Finding[],
  fileOrder: readonly string[] = [],
): Finding[] {
  const rank = (file: string) => {
    const i = fileOrder.indexOf(file);
    return i < 0 ? fileOrder.length : i;
  };
  return [...findings].sort((a, b) => {
    if (a.file !== b.file) return rank(a.file) - rank(b.file) || (a.file < b.file ? -1 : 1);
    return a.line - b.line || a.col - b.col;
  });
}

/** Counts errors and warnings. */
export function countFindings(findings: readonly Finding[]): { errors: number; warnings: number } {
  let errors = 0;
  for (const f of findings) if (f.severity === "error") errors++;
  return { errors, warnings: findings.length - errors };
}

/**
 * `siglatch check [FILE]`: validates a siglatchd config and prints every problem as
 * `file:line:col: path: message` (warnings marked `warning:`), then a summary line.
 * Exit 0 when there are no errors, 1 when there are (with --strict warnings count too).
 *
 * @module
 */
import type { Command } from "commander";
import { CliError } from "./errors.ts";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../config/load.ts";
import { countFindings, type Finding, formatFinding } from "../config/findings.ts";

/** Options of `check`. */
export interface CheckOptions {
  /** Warnings fail the check too. */
  strict?: boolean;
  /** Print one JSON object instead of lines. */
  json?: boolean;
  /** Check key files, executables and run_as users on this machine (default true). */
  files?: boolean;
}

/** The machine-readable outcome of a check (`--json`). */
export interface CheckReport {
  /** True when the config passes (no errors; no warnings either with --strict). */
  ok: boolean;
  /** Number of errors. */
  errors: number;
  /** Number of warnings. */
  warnings: number;
  /** Files read, main first (empty when the main file could not be read or parsed). */
  files: string[];
  /** Every finding, sorted by file and position. */
  findings: Finding[];
}

/** Checks a config file and returns the report (no output). */
export async function checkConfig(path: string, opts: CheckOptions = {}): Promise<CheckReport> {
  const res = await loadConfig(path, { checkFiles: opts.files !== false });
  const { errors, warnings } = countFindings(res.findings);
  return {
    ok: errors === 0 && !(opts.strict && warnings > 0),
    errors,
    warnings,
    files: res.files ?? [],
    findings: res.findings,
  };
}

/** Formats a finding for the terminal: errors plain, warnings marked. */
export function formatCheckLine(f: Finding): string {
  return f.severity === "warning" ? formatFinding(f, true) : formatFinding(f);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The summary line printed after the findings. */
export function summaryLine(path: string, report: CheckReport, strict = false): string {
  const counts = `${plural(report.errors, "error")}, ${plural(report.warnings, "warning")}`;
  const files = report.files.length > 1 ? ` in ${plural(report.files.length, "file")}` : "";
  if (report.ok) return `${path}: OK (${counts}${files})`;
  const why = report.errors === 0 && strict ? " (--strict: warnings count as errors)" : "";
  return `${path}: FAILED (${counts}${files})${why}`;
}

/** Runs `check` and prints its output; throws CliError(1) when the config does not pass. */
export async function runCheck(path: string, opts: CheckOptions = {}): Promise<void> {
  const report = await checkConfig(path, opts);
  if (opts.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    for (const f of report.findings) console.log(formatCheckLine(f));
    console.log(summaryLine(path, report, opts.strict));
  }
  if (!report.ok) throw new CliError("", 1);
}

/** Registers the `check` subcommand. */
export function register(program: Command): void {
  program.command("check")
    .description(
      "validate a siglatchd config: print every error and warning as\n" +
        "file:line:col: field: message, then a summary line",
    )
    .argument("[file]", "config file", DEFAULT_CONFIG_PATH)
    .option("--strict", "treat warnings as errors (exit 1 on any finding)")
    .option("--json", "print {ok, errors, warnings, files, findings} as JSON")
    .option(
      "--no-files",
      "skip the checks that look at this machine (key files and modes, executables, run_as users)",
    )
    .addHelpText(
      "after",
      `
Checks the YAML syntax, every field against the schema (ranges, CIDRs, durations,
unknown keys with a "did you mean"), included files (include: conf.d/*.yaml), and
what the schema cannot see: duplicate ids and names, references to unknown or
disabled actions and servers, overlapping listen addresses, validity windows, key
files that are missing or readable by group/others, executables that are missing or
not executable, run_as users and groups that do not exist.

Exit status: 0 no errors (warnings allowed), 1 errors (or warnings with --strict),
2 usage error.

Examples:
  siglatch check                                  # /etc/siglatch/siglatchd.yaml
  siglatch check config/siglatchd.yaml
  siglatch check --strict /etc/siglatch/siglatchd.yaml && systemctl reload siglatchd
  siglatch check --json siglatchd.yaml | jq '.findings[] | select(.severity=="error")'
  siglatch check --no-files staging.yaml          # a config meant for another machine`,
    )
    .action(async (file: string, opts: CheckOptions) => {
      await runCheck(file, opts);
    });
}

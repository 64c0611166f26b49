/**
 * Errors that carry a process exit status: 1 for a failure, 2 for a usage error.
 * @module
 */

/** A failure the command reports to the operator and exits 1 on. */
export class CliError extends Error {
  /** Process exit status. */
  readonly exitCode: number;
  /** Creates an error that exits with `exitCode` (default 1). */
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** A usage error (bad flags or arguments): exits 2. */
export class UsageError extends CliError {
  /** Creates a usage error. */
  constructor(message: string) {
    super(message, 2);
    this.name = "UsageError";
  }
}

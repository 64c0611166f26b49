/**
 * Logging through logtape: `text` for terminals, `json` (JSON lines) for journald and
 * machines, to stderr and optionally a file. Drop logging is rate-limited so a flood cannot
 * fill the disk ({@linkcode DropLogLimiter}).
 * @module
 */
import {
  configureSync,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogRecord,
  resetSync,
} from "@logtape/logtape";

/** Logging settings (the `logging` config section). */
export interface LogSettings {
  /** Lowest level written. */
  level: "trace" | "debug" | "info" | "warning" | "error";
  /** `text` or `json`. */
  format: "text" | "json";
  /** Also append to this file. */
  file?: string;
}

const encoder = new TextEncoder();

/** Listeners that receive every record (the admin `logs --follow` stream). */
const taps = new Set<(record: LogRecord) => void>();

/** Adds a listener for every log record; returns a function that removes it. */
export function tapLogs(listener: (record: LogRecord) => void): () => void {
  taps.add(listener);
  return () => taps.delete(listener);
}

/** Configures logging for the process (replacing any previous configuration). */
export function setupLogging(settings: LogSettings): void {
  const formatter = settings.format === "json"
    ? getJsonLinesFormatter({ categorySeparator: ".", message: "rendered", properties: "flatten" })
    : getTextFormatter({ timestamp: "date-time-tz", category: "." });
  let fileHandle: Deno.FsFile | undefined;
  if (settings.file) {
    fileHandle = Deno.openSync(settings.file, { append: true, create: true, mode: 0o640 });
  }
  const sink = (record: LogRecord) => {
    const line = encoder.encode(formatter(record));
    try {
      Deno.stderr.writeSync(line);
    } catch {
      // stderr closed: keep running
    }
    if (fileHandle) {
      try {
        fileHandle.writeSync(line);
      } catch {
        // disk full: keep running
      }
    }
    for (const tap of taps) tap(record);
  };
  resetSync();
  configureSync({
    reset: true,
    sinks: { main: sink },
    loggers: [
      { category: ["siglatch"], lowestLevel: settings.level, sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

/** A logger under the `siglatch` category. */
export function logger(...category: string[]): Logger {
  return getLogger(["siglatch", ...category]);
}

/**
 * Lets through at most `perSecond` drop log lines per second and counts the rest, so the
 * next line that passes can say how many were suppressed.
 */
export class DropLogLimiter {
  readonly #perSecond: number;
  #windowStart = 0;
  #inWindow = 0;
  #suppressed = 0;

  /** Creates a limiter allowing `perSecond` lines per second (0 = none). */
  constructor(perSecond: number) {
    this.#perSecond = perSecond;
  }

  /** Returns the number of lines suppressed since the last one that passed, or -1 to drop. */
  take(now: number): number {
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= this.#perSecond) {
      this.#suppressed++;
      return -1;
    }
    this.#inWindow++;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}

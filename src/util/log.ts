/**
 * Logging through logtape: `text` for terminals, `json` (JSON lines) for journald and
 * machines, to stderr and optionally a file. Drop logging is rate-limited so a flood cannot
 * fill the disk ({@linkcode DropLogLimiter}).
 * @module
 */
import { journalPrefix, journalWanted } from "./journal.ts";
import { configureSync, getLogger, type Logger, type LogRecord, resetSync } from "@logtape/logtape";

/** Logging settings (the `logging` config section). */
export interface LogSettings {
  /** Lowest level written. */
  level: "trace" | "debug" | "info" | "warning" | "error";
  /** `text` or `json`. */
  format: "text" | "json";
  /** Also append to this file. */
  file?: string;
  /** journald priority prefixes on stderr (`auto`: when JOURNAL_STREAM is set). */
  journal?: "auto" | "on" | "off";
}

const encoder = new TextEncoder();

function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * The message with values written plainly (`src=192.0.2.1`, not `src="192.0.2.1"`), so
 * fail2ban and grep patterns stay simple. Control characters are escaped: a log line is
 * always one line, whatever a client sent.
 */
export function renderMessage(record: LogRecord): string {
  let out = "";
  for (let i = 0; i < record.message.length; i++) {
    out += i % 2 === 0 ? String(record.message[i]) : renderValue(record.message[i]);
  }
  return escapeControls(out);
}

const NAMED_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Escapes every control character (C0, DEL, C1, and the Unicode line and paragraph
 * separators) as `\n`, `\r`, `\t` or `\xHH`/`\uHHHH`, so text from the network can never
 * start a line of its own that fail2ban or a reader would take for ours.
 *
 * @example
 * ```ts
 * escapeControls("a\nb") // "a\\nb"
 * ```
 */
export function escapeControls(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g,
    (c) => {
      const code = c.charCodeAt(0);
      return NAMED_ESCAPES[c] ??
        (code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, "0")}`);
    },
  );
}

const LEVEL_TEXT: Record<string, string> = {
  trace: "TRC",
  debug: "DBG",
  info: "INF",
  warning: "WRN",
  error: "ERR",
  fatal: "FTL",
};

/** `2026-01-31T18:00:00.000Z INF daemon: message` */
export function formatTextLine(record: LogRecord): string {
  const category = record.category.slice(1).join(".");
  return `${new Date(record.timestamp).toISOString()} ${
    LEVEL_TEXT[record.level] ?? record.level
  } ${category}: ${renderMessage(record)}\n`;
}

/** One JSON object per line: time, level, logger, message, then every property. */
export function formatJsonLine(record: LogRecord): string {
  return JSON.stringify({
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.join("."),
    message: renderMessage(record),
    ...record.properties,
  }, (_k, v) => typeof v === "bigint" ? v.toString() : v) + "\n";
}

/** Listeners that receive every record (the admin `logs --follow` stream). */
const taps = new Set<(record: LogRecord) => void>();

/** Adds a listener for every log record; returns a function that removes it. */
export function tapLogs(listener: (record: LogRecord) => void): () => void {
  taps.add(listener);
  return () => taps.delete(listener);
}

/** Writes `bytes` fully (a pipe may take a large batch in several writes). */
function writeAll(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(off === 0 ? bytes : bytes.subarray(off));
}

/** The flush of the current configuration's queued records. */
let pendingFlush: (() => void) | undefined;

/** Writes every queued log record now (they are otherwise written one microtask later). */
export function flushLogs(): void {
  pendingFlush?.();
}

let unloadHooked = false;

/** Configures logging for the process (replacing any previous configuration). */
export function setupLogging(settings: LogSettings): void {
  flushLogs();
  const formatter = settings.format === "json" ? formatJsonLine : formatTextLine;
  const journal = journalWanted(settings.journal);
  let fileHandle: Deno.FsFile | undefined;
  if (settings.file) {
    fileHandle = Deno.openSync(settings.file, { append: true, create: true, mode: 0o640 });
  }
  // Records are formatted and written after the current task's synchronous work (one
  // microtask later, all records of the turn in one write per destination), so a log line
  // never sits between a request and its reply. Order is kept; `unload` (Deno.exit,
  // end of the program) flushes what is still queued.
  let queued: LogRecord[] = [];
  const flush = () => {
    if (queued.length === 0) return;
    const records = queued;
    queued = [];
    let text = "";
    let journalText = "";
    for (const r of records) {
      const line = formatter(r);
      text += line;
      if (journal) journalText += journalPrefix(r.level) + line;
    }
    const bytes = encoder.encode(text);
    try {
      writeAll(Deno.stderr, journal ? encoder.encode(journalText) : bytes);
    } catch {
      // stderr closed: keep running
    }
    if (fileHandle) {
      try {
        writeAll(fileHandle, bytes);
      } catch {
        // disk full: keep running
      }
    }
  };
  pendingFlush = flush;
  const sink = (record: LogRecord) => {
    if (queued.length === 0) queueMicrotask(flush);
    queued.push(record);
    for (const tap of taps) tap(record);
  };
  if (!unloadHooked && typeof globalThis.addEventListener === "function") {
    unloadHooked = true;
    globalThis.addEventListener("unload", () => flushLogs());
  }
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

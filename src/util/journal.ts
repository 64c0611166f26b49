/**
 * journald priorities: a line on stderr that starts with `<N>` gets syslog priority N in
 * the journal (sd-daemon(3)), so `journalctl -p warning` filters siglatch's lines.
 * @module
 */

/** syslog priority of each log level (3 error, 4 warning, 6 info, 7 debug). */
const PRIORITY: Record<string, number> = {
  fatal: 2,
  error: 3,
  warning: 4,
  info: 6,
  debug: 7,
  trace: 7,
};

/** The `<N>` prefix for a log level. */
export function journalPrefix(level: string): string {
  return `<${PRIORITY[level] ?? 6}>`;
}

/**
 * Whether to prefix: `on`, `off`, or `auto` (systemd connected stderr to the journal and
 * said so in `JOURNAL_STREAM`).
 */
export function journalWanted(setting: "auto" | "on" | "off" | undefined): boolean {
  if (setting === "on") return true;
  if (setting === "off") return false;
  try {
    return (Deno.env.get("JOURNAL_STREAM") ?? "") !== "";
  } catch {
    return false;
  }
}

/**
 * Colour for people at a terminal: on only when the stream is a TTY, `NO_COLOR` is absent or
 * empty (no-color.org) and `TERM` is not `dumb`. Pipes, files and `--json` stay plain.
 * @module
 */

/** What decides colour (injectable for tests). */
export interface ColourFacts {
  /** The stream is a terminal. */
  tty: boolean;
  /** `NO_COLOR`, when set. */
  noColor?: string;
  /** `TERM`, when set. */
  term?: string;
}

/** True when output described by `facts` should be coloured. */
export function colourWanted(facts: ColourFacts): boolean {
  if (!facts.tty) return false;
  if (facts.noColor !== undefined && facts.noColor !== "") return false;
  return facts.term !== "dumb";
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Whether to colour what goes to stdout or stderr of this process. */
export function colourFor(stream: "stdout" | "stderr"): boolean {
  const s = stream === "stdout" ? Deno.stdout : Deno.stderr;
  return colourWanted({ tty: s.isTerminal(), noColor: env("NO_COLOR"), term: env("TERM") });
}

const CODES = { red: 31, green: 32, yellow: 33, cyan: 36, bold: 1, dim: 2 } as const;

/** A style name. */
export type Style = keyof typeof CODES;

/** `text` in `style` when `on`, else unchanged. */
export function paint(text: string, style: Style, on: boolean): string {
  return on ? `\x1b[${CODES[style]}m${text}\x1b[0m` : text;
}

/** The style of a message level. */
export function levelStyle(level: string): Style {
  return level === "critical" ? "red" : level === "warning" ? "yellow" : "cyan";
}

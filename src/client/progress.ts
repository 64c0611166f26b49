/**
 * Progress lines in an action's output (docs/PROTOCOL.md §18, "Progress lines"): a line
 * `SIGLATCH-PROGRESS n/m [text]` (n ≤ m, integers) is taken out of the output and shown as
 * progress instead: a bar redrawn in place on a terminal, a plain `progress n/m text` line
 * otherwise. Everything else passes through byte for byte, as soon as it arrives (only a line
 * that may still turn out to be a progress line is held, at most 4 KiB).
 * @module
 */

const PREFIX = new TextEncoder().encode("SIGLATCH-PROGRESS ");
const LINE = /^SIGLATCH-PROGRESS (\d{1,15})\/(\d{1,15})(?: (.*))?\r?$/;
const HOLD = 4096;
const NL = 0x0a;

/** One progress report. */
export interface Progress {
  /** Done so far. */
  n: number;
  /** Total. */
  m: number;
  /** What is being done (may be empty). */
  text: string;
}

/** Parses one line (without its newline); null when it is not a progress line. */
export function parseProgress(line: string): Progress | null {
  const r = LINE.exec(line);
  if (!r) return null;
  const n = Number(r[1]), m = Number(r[2]);
  if (m === 0 || n > m) return null;
  return { n, m, text: r[3] ?? "" };
}

/** Splits output into output bytes and progress reports, across chunk boundaries. */
export class ProgressFilter {
  readonly #out: (bytes: Uint8Array) => void | Promise<void>;
  readonly #progress: (p: Progress) => void;
  /** Bytes of the current line held back (it may be a progress line). */
  #held: Uint8Array = new Uint8Array(0);
  /** True while at the start of a line (the only place a progress line can begin). */
  #lineStart = true;
  /** True when the current line is known not to be a progress line. */
  #plain = false;

  /** `out` gets output bytes, `progress` the reports. */
  constructor(
    out: (bytes: Uint8Array) => void | Promise<void>,
    progress: (p: Progress) => void,
  ) {
    this.#out = out;
    this.#progress = progress;
  }

  /** Feeds one chunk. */
  async write(chunk: Uint8Array): Promise<void> {
    let i = 0;
    let passFrom = -1; // start of bytes to pass through in this chunk
    while (i < chunk.length) {
      if (this.#lineStart) {
        this.#lineStart = false;
        this.#plain = false;
      }
      if (this.#plain) {
        if (passFrom < 0) passFrom = i;
        const nl = chunk.indexOf(NL, i);
        if (nl < 0) {
          i = chunk.length;
          break;
        }
        i = nl + 1;
        this.#lineStart = true;
        continue;
      }
      // Holding: does the line still match the prefix?
      if (passFrom >= 0) {
        await this.#out(chunk.subarray(passFrom, i));
        passFrom = -1;
      }
      const nl = chunk.indexOf(NL, i);
      const end = nl < 0 ? chunk.length : nl + 1;
      this.#held = concat(this.#held, chunk.subarray(i, end));
      i = end;
      const cmp = Math.min(this.#held.length, PREFIX.length);
      let matches = true;
      for (let k = 0; k < cmp; k++) if (this.#held[k] !== PREFIX[k]) matches = false;
      const complete = this.#held[this.#held.length - 1] === NL;
      if (matches && complete) {
        const text = new TextDecoder().decode(this.#held.subarray(0, this.#held.length - 1));
        const p = parseProgress(text);
        if (p) this.#progress(p);
        else await this.#out(this.#held);
        this.#held = new Uint8Array(0);
        this.#lineStart = true;
      } else if (!matches || this.#held.length > HOLD) {
        await this.#out(this.#held);
        this.#held = new Uint8Array(0);
        this.#plain = !complete;
        this.#lineStart = complete;
      }
    }
    if (passFrom >= 0) await this.#out(chunk.subarray(passFrom, i));
  }

  /** The end of the output: a held partial line goes out as output. */
  async end(): Promise<void> {
    if (this.#held.length > 0) await this.#out(this.#held);
    this.#held = new Uint8Array(0);
  }
}

/** Draws progress: a bar on a terminal, plain lines otherwise (on `write`, e.g. stderr). */
export class ProgressView {
  readonly #tty: boolean;
  readonly #write: (text: string) => void;
  readonly #width: number;
  #drawn = false;

  /** `tty`: redraw one line in place; else one line per report. */
  constructor(tty: boolean, write: (text: string) => void, width = 30) {
    this.#tty = tty;
    this.#write = write;
    this.#width = width;
  }

  /** Shows one report. */
  show(p: Progress): void {
    if (!this.#tty) {
      this.#write(`progress ${p.n}/${p.m}${p.text ? ` ${p.text}` : ""}\n`);
      return;
    }
    const filled = Math.round((p.n / p.m) * this.#width);
    const pct = Math.floor((100 * p.n) / p.m);
    const bar = "#".repeat(filled) + "-".repeat(this.#width - filled);
    // Control characters of the action's text are not ours to send to a terminal.
    const text = [...p.text.slice(0, 60)]
      .map((ch) => (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? "?" : ch)).join("");
    this.#write(`\r\x1b[2K[${bar}] ${String(pct).padStart(3)}% ${p.n}/${p.m} ${text}`);
    this.#drawn = true;
  }

  /** Ends the bar's line (a terminal), so what follows starts on a new line. */
  done(): void {
    if (this.#tty && this.#drawn) this.#write("\n");
    this.#drawn = false;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

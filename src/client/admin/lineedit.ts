/**
 * A small line editor for the admin shell: key decoding from a raw terminal, an editable
 * line with a cursor, and history navigation. Pure (no I/O), so it is tested directly;
 * {@linkcode renderLine} produces what the terminal needs to show the line.
 *
 * Not `node:readline` (tried for issue 12 on Deno 2.9.6 in a pty, tests/cli/admin_test.ts):
 * an ambiguous Tab lists nothing until a second Tab, a unique completion adds no space,
 * and after Ctrl-C (the `SIGINT` event) Up shows empty lines until a line is entered,
 * short of resetting readline's private history index.
 * @module
 */

/** A decoded key press. */
export type Key =
  | { type: "char"; text: string }
  | {
    type:
      | "enter"
      | "tab"
      | "backspace"
      | "delete"
      | "left"
      | "right"
      | "up"
      | "down"
      | "home"
      | "end"
      | "interrupt"
      | "eof"
      | "kill-line"
      | "kill-to-end"
      | "kill-word"
      | "clear-screen"
      | "word-left"
      | "word-right";
  };

const CSI_FINAL: Record<string, Key["type"]> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
};

const TILDE: Record<string, Key["type"]> = {
  "1": "home",
  "7": "home",
  "4": "end",
  "8": "end",
  "3": "delete",
};

const CONTROL: Record<number, Key["type"]> = {
  0x01: "home", // Ctrl-A
  0x02: "left", // Ctrl-B
  0x03: "interrupt", // Ctrl-C
  0x04: "eof", // Ctrl-D
  0x05: "end", // Ctrl-E
  0x06: "right", // Ctrl-F
  0x08: "backspace", // Ctrl-H
  0x09: "tab",
  0x0a: "enter",
  0x0b: "kill-to-end", // Ctrl-K
  0x0c: "clear-screen", // Ctrl-L
  0x0d: "enter",
  0x0e: "down", // Ctrl-N
  0x10: "up", // Ctrl-P
  0x15: "kill-line", // Ctrl-U
  0x17: "kill-word", // Ctrl-W
  0x7f: "backspace",
};

/** Turns raw terminal input into keys; keeps an incomplete escape sequence for the next chunk. */
export class KeyDecoder {
  readonly #utf8 = new TextDecoder();
  #rest = "";

  /** Decodes a chunk of input. */
  feed(bytes: Uint8Array): Key[] {
    const s = this.#rest + this.#utf8.decode(bytes, { stream: true });
    this.#rest = "";
    const keys: Key[] = [];
    let i = 0;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === 0x1b) {
        if (i + 1 >= s.length) {
          this.#rest = s.slice(i);
          break;
        }
        const next = s[i + 1];
        if (next === "[" || next === "O") {
          // CSI / SS3: parameters then a final byte in 0x40..0x7e.
          let j = i + 2;
          while (j < s.length && /[0-9;]/.test(s[j])) j++;
          if (j >= s.length) {
            this.#rest = s.slice(i);
            break;
          }
          const params = s.slice(i + 2, j);
          const final = s[j];
          i = j + 1;
          if (final === "~") {
            const t = TILDE[params.split(";")[0]];
            if (t) keys.push({ type: t } as Key);
          } else if (CSI_FINAL[final]) {
            const mod = params.split(";")[1];
            const t = CSI_FINAL[final];
            // Ctrl/Alt + left/right move by word (xterm modifiers 3, 5).
            if ((mod === "5" || mod === "3") && (t === "left" || t === "right")) {
              keys.push({ type: t === "left" ? "word-left" : "word-right" });
            } else keys.push({ type: t } as Key);
          }
          continue;
        }
        if (next === "b" || next === "f") {
          keys.push({ type: next === "b" ? "word-left" : "word-right" });
          i += 2;
          continue;
        }
        if (next === "\x7f") {
          keys.push({ type: "kill-word" });
          i += 2;
          continue;
        }
        i += 1; // a lone ESC: ignored
        continue;
      }
      if (c < 0x20 || c === 0x7f) {
        const t = CONTROL[c];
        if (t) {
          keys.push({ type: t } as Key);
          // CR LF from a paste is one enter.
          if (c === 0x0d && s.charCodeAt(i + 1) === 0x0a) i++;
        }
        i++;
        continue;
      }
      // Printable run (code points, so a surrogate pair stays whole).
      let j = i;
      while (
        j < s.length && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) !== 0x7f && s[j] !== "\x1b"
      ) {
        j++;
      }
      keys.push({ type: "char", text: s.slice(i, j) });
      i = j;
    }
    return keys;
  }
}

/** Command history: newest last, bounded, no consecutive duplicates. */
export class History {
  readonly entries: string[];
  readonly #max: number;

  /** Creates a history holding at most `max` entries, starting with `initial`. */
  constructor(initial: string[] = [], max = 1000) {
    this.#max = max;
    this.entries = initial.slice(-max);
  }

  /** Adds a line; returns false when it was not added (blank or a repeat of the last). */
  add(line: string): boolean {
    if (line.trim() === "" || this.entries[this.entries.length - 1] === line) return false;
    this.entries.push(line);
    if (this.entries.length > this.#max) this.entries.shift();
    return true;
  }
}

/** An editable line with a cursor and history browsing. */
export class LineBuffer {
  /** Code points of the line. */
  chars: string[] = [];
  /** Cursor position (index into `chars`). */
  cursor = 0;
  readonly #history: History;
  /** Position while browsing history (`entries.length` = the line being edited). */
  #histPos: number;
  #draft: string[] = [];

  /** Creates an empty line browsing `history`. */
  constructor(history: History) {
    this.#history = history;
    this.#histPos = history.entries.length;
  }

  /** The line's text. */
  get text(): string {
    return this.chars.join("");
  }

  /** The text before the cursor. */
  get beforeCursor(): string {
    return this.chars.slice(0, this.cursor).join("");
  }

  /** Replaces the whole line (cursor to the end). */
  set(text: string): void {
    this.chars = [...text];
    this.cursor = this.chars.length;
  }

  /** Inserts text at the cursor. */
  insert(text: string): void {
    const cps = [...text];
    this.chars.splice(this.cursor, 0, ...cps);
    this.cursor += cps.length;
  }

  /** Applies an editing key; returns false for keys it does not handle (enter, tab, …). */
  apply(key: Key): boolean {
    switch (key.type) {
      case "char":
        this.insert(key.text);
        return true;
      case "backspace":
        if (this.cursor > 0) this.chars.splice(--this.cursor, 1);
        return true;
      case "delete":
        if (this.cursor < this.chars.length) this.chars.splice(this.cursor, 1);
        return true;
      case "left":
        if (this.cursor > 0) this.cursor--;
        return true;
      case "right":
        if (this.cursor < this.chars.length) this.cursor++;
        return true;
      case "home":
        this.cursor = 0;
        return true;
      case "end":
        this.cursor = this.chars.length;
        return true;
      case "word-left":
        while (this.cursor > 0 && this.chars[this.cursor - 1] === " ") this.cursor--;
        while (this.cursor > 0 && this.chars[this.cursor - 1] !== " ") this.cursor--;
        return true;
      case "word-right":
        while (this.cursor < this.chars.length && this.chars[this.cursor] === " ") this.cursor++;
        while (this.cursor < this.chars.length && this.chars[this.cursor] !== " ") this.cursor++;
        return true;
      case "kill-line":
        this.chars.splice(0, this.cursor);
        this.cursor = 0;
        return true;
      case "kill-to-end":
        this.chars.splice(this.cursor);
        return true;
      case "kill-word": {
        let start = this.cursor;
        while (start > 0 && this.chars[start - 1] === " ") start--;
        while (start > 0 && this.chars[start - 1] !== " ") start--;
        this.chars.splice(start, this.cursor - start);
        this.cursor = start;
        return true;
      }
      case "up":
        this.#browse(-1);
        return true;
      case "down":
        this.#browse(1);
        return true;
    }
    return false;
  }

  #browse(dir: -1 | 1): void {
    const entries = this.#history.entries;
    const next = this.#histPos + dir;
    if (next < 0 || next > entries.length) return;
    if (this.#histPos === entries.length) this.#draft = [...this.chars];
    this.#histPos = next;
    this.chars = next === entries.length ? [...this.#draft] : [...entries[next]];
    this.cursor = this.chars.length;
  }
}

/** Terminal output that redraws the prompt and line with the cursor in place. */
export function renderLine(prompt: string, line: LineBuffer): string {
  const back = line.chars.length - line.cursor;
  return `\r${prompt}${line.text}\x1b[K${back > 0 ? `\x1b[${back}D` : ""}`;
}

/** The longest common prefix of `words`. */
export function commonPrefix(words: string[]): string {
  if (words.length === 0) return "";
  let p = words[0];
  for (const w of words) {
    while (!w.startsWith(p)) p = p.slice(0, -1);
  }
  return p;
}

/**
 * Reading one YAML config file defensively: size cap before reading it all, UTF-8 and
 * binary checks, YAML syntax errors with their line and column, alias bombs, deep
 * nesting. Every failure becomes a {@linkcode Finding}; nothing here throws on bad input.
 *
 * @module
 */
import { type Document, LineCounter, parseDocument } from "yaml";
import type { Finding } from "./findings.ts";

/** Largest config file read (bytes); larger files are refused before parsing. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** YAML alias expansion budget (the `yaml` package's `maxAliasCount`). */
export const MAX_ALIAS_COUNT = 100;

/** Syntax errors reported per file at most (the rest are summarised in one line). */
const MAX_SYNTAX_ERRORS = 10;

/** A parsed YAML file with what is needed to map a value back to its line and column. */
export interface ParsedFile {
  /** The name used in findings (the path as given or as found by an include glob). */
  file: string;
  /** The YAML document, node ranges kept. */
  doc: Document.Parsed;
  /** Offset → line/column. */
  lines: LineCounter;
  /** The document as plain JS data (a mapping: checked). */
  data: Record<string, unknown>;
}

/** The outcome of reading and parsing one file. */
export type ParseOutcome =
  | { ok: true; parsed: ParsedFile; findings: Finding[] }
  | { ok: false; findings: Finding[] };

function fileError(file: string, message: string, code: string, line = 1, col = 1): Finding {
  return { severity: "error", file, line, col, path: "", message, code };
}

/** Reads at most `MAX_CONFIG_BYTES` (+1 to detect more) from `path`; returns a finding on failure. */
export async function readConfigBytes(
  path: string,
  file = path,
): Promise<Uint8Array | Finding> {
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(path, { read: true });
  } catch (err) {
    return fileError(file, `cannot read: ${describeFsError(err)}`, "file.unreadable");
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory) return fileError(file, "is a directory, not a file", "file.unreadable");
    if (info.size > MAX_CONFIG_BYTES) return tooBig(file, info.size);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(64 * 1024);
    while (total <= MAX_CONFIG_BYTES) {
      const n = await handle.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
    }
    if (total > MAX_CONFIG_BYTES) return tooBig(file, total);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } catch (err) {
    return fileError(file, `cannot read: ${describeFsError(err)}`, "file.unreadable");
  } finally {
    handle.close();
  }
}

function tooBig(file: string, size: number): Finding {
  return fileError(
    file,
    `file is too large (${size > MAX_CONFIG_BYTES ? "over " : ""}${MAX_CONFIG_BYTES} bytes ` +
      `at most): refusing to parse it`,
    "file.too_large",
  );
}

/** A short description of a file system error (no stack). */
export function describeFsError(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file or directory";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.IsADirectory) return "is a directory";
  return err instanceof Error ? err.message : String(err);
}

/** Offset of the first byte that is not valid UTF-8, or -1. */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    let need: number, min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

function lineColAt(bytes: Uint8Array, offset: number): { line: number; col: number } {
  let line = 1, start = 0;
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      start = i + 1;
    }
  }
  return { line, col: offset - start + 1 };
}

/** Decodes config bytes to text, or returns one finding for binary or non-UTF-8 content. */
export function decodeConfigText(bytes: Uint8Array, file: string): string | Finding {
  const nul = bytes.indexOf(0);
  const bad = invalidUtf8Offset(bytes);
  const first = nul >= 0 && (bad < 0 || nul < bad) ? nul : bad;
  if (first >= 0) {
    const { line, col } = lineColAt(bytes, first);
    const what = first === nul ? "a NUL byte" : "a byte that is not UTF-8";
    return fileError(
      file,
      `not a YAML text file: ${what} at offset ${first} (binary data?)`,
      "file.not_text",
      line,
      col,
    );
  }
  const text = new TextDecoder().decode(bytes);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Parses YAML text into a {@linkcode ParsedFile}; every problem is a finding. */
export function parseConfigText(
  text: string,
  file: string,
  opts: { allowEmpty?: boolean } = {},
): ParseOutcome {
  if (text.length > MAX_CONFIG_BYTES) {
    return { ok: false, findings: [tooBig(file, text.length)] };
  }
  const lines = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, {
      lineCounter: lines,
      prettyErrors: false,
      uniqueKeys: true,
    });
  } catch (err) {
    return { ok: false, findings: [internalParseFailure(file, err)] };
  }
  const at = (offset: number) => {
    const p = lines.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const findings: Finding[] = [];
  if (doc.errors.some((e) => /call stack/i.test(e.message))) {
    return {
      ok: false,
      findings: [fileError(file, "YAML is nested too deeply", "yaml.too_deep")],
    };
  }
  for (const e of doc.errors.slice(0, MAX_SYNTAX_ERRORS)) {
    const { line, col } = at(e.pos[0]);
    findings.push(
      fileError(file, `YAML syntax error: ${firstLine(e.message)}`, "yaml.syntax", line, col),
    );
  }
  if (doc.errors.length > MAX_SYNTAX_ERRORS) {
    const last = findings[findings.length - 1];
    findings.push({
      ...last,
      message: `${doc.errors.length - MAX_SYNTAX_ERRORS} more YAML syntax errors not shown`,
    });
  }
  for (const w of doc.warnings) {
    const { line, col } = at(w.pos[0]);
    const code = w.code === "TAG_RESOLVE_FAILED" ? "yaml.tag" : "yaml.warning";
    // An unknown tag changes what a value means: refuse rather than guess.
    const severity = w.code === "TAG_RESOLVE_FAILED" ? "error" : "warning";
    findings.push({ severity, file, line, col, path: "", message: firstLine(w.message), code });
  }
  if (findings.some((f) => f.severity === "error")) return { ok: false, findings };

  if (doc.contents === null || (doc.contents as { value?: unknown }).value === null) {
    if (opts.allowEmpty && doc.contents === null) {
      return { ok: true, parsed: { file, doc, lines, data: {} }, findings };
    }
    findings.push(
      fileError(
        file,
        "empty config: expected a mapping with servers, users, actions, ...",
        "config.empty",
      ),
    );
    return { ok: false, findings };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/alias count|resource exhaustion/i.test(msg)) {
      findings.push(fileError(
        file,
        `YAML aliases expand too much (more than ${MAX_ALIAS_COUNT} alias uses): refusing a possible alias bomb`,
        "yaml.alias_bomb",
      ));
    } else if (err instanceof RangeError) {
      findings.push(fileError(file, "YAML is nested too deeply", "yaml.too_deep"));
    } else {
      findings.push(fileError(file, `YAML error: ${firstLine(msg)}`, "yaml.syntax"));
    }
    return { ok: false, findings };
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    const { line, col } = at(doc.contents.range[0]);
    const found = Array.isArray(data)
      ? "a list"
      : `${typeof data === "string" ? "text" : typeof data}`;
    findings.push(
      fileError(
        file,
        `the top level must be a mapping (key: value), found ${found}`,
        "config.not_mapping",
        line,
        col,
      ),
    );
    return { ok: false, findings };
  }
  return {
    ok: true,
    parsed: { file, doc, lines, data: data as Record<string, unknown> },
    findings,
  };
}

function firstLine(message: string): string {
  return message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
}

function internalParseFailure(file: string, err: unknown): Finding {
  if (err instanceof RangeError) {
    return fileError(file, "YAML is nested too deeply", "yaml.too_deep");
  }
  const msg = err instanceof Error ? err.message : String(err);
  return fileError(file, `YAML error: ${firstLine(msg)}`, "yaml.syntax");
}

/** Reads and parses one config file; every problem (I/O, encoding, YAML) is a finding. */
export async function parseConfigFile(
  path: string,
  file = path,
  opts: { allowEmpty?: boolean } = {},
): Promise<ParseOutcome> {
  const bytes = await readConfigBytes(path, file);
  if (!(bytes instanceof Uint8Array)) return { ok: false, findings: [bytes] };
  const text = decodeConfigText(bytes, file);
  if (typeof text !== "string") return { ok: false, findings: [text] };
  return parseConfigText(text, file, opts);
}

/**
 * Mapping a field path of the (merged) config back to the file, line and column it was
 * written at. Items of list sections (servers, users, …) may come from included files;
 * scalar sections come from the one file that sets them.
 *
 * @module
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Node } from "yaml";
import { formatPath } from "./findings.ts";
import type { ParsedFile } from "./source.ts";

/** Top-level sections whose lists are concatenated across included files. */
export const LIST_SECTIONS = ["servers", "users", "actions", "deaddrops", "messages"] as const;

/** A place in a config file. */
export interface Location {
  /** File name as used in findings. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  col: number;
  /** The path as written in that file (`servers[0].listen[1]`). */
  path: string;
}

/** What to point at: the value, the key of the last path element, or its parent mapping. */
export type Target = "value" | "key";

/** Where each list item and section of a merged config came from. */
export interface Origins {
  /** For each list section, the file index and local index of every merged item. */
  items: Map<string, { file: number; index: number }[]>;
  /** For each top-level key, the index of the first file that set it. */
  sections: Map<string, number>;
}

function keyText(node: unknown): string | undefined {
  if (isScalar(node)) return String(node.value);
  return undefined;
}

function nodeStart(node: unknown): number | undefined {
  const r = (node as { range?: [number, number, number] } | null)?.range;
  return r ? r[0] : undefined;
}

/**
 * Finds the offset of `path` inside one document: the value (or key) when it exists, the
 * deepest existing parent otherwise (a missing field points at the mapping that lacks it).
 */
export function offsetInDocument(
  pf: ParsedFile,
  path: readonly PropertyKey[],
  target: Target = "value",
): number {
  let node: unknown = pf.doc.contents;
  let offset = nodeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(pf.doc);
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
      if (!pair) return offset;
      const keyStart = nodeStart(pair.key);
      if (last && target === "key" && keyStart !== undefined) return keyStart;
      const valueStart = nodeStart(pair.value);
      // `key:` with no value has no value node: point at the key.
      offset = valueStart ?? keyStart ?? offset;
      node = pair.value;
      if (valueStart === undefined) return offset;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      const start = nodeStart(item);
      if (start === undefined) return offset;
      offset = start;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}

/** Locates paths of a config merged from several files. */
export class SourceMap {
  readonly #files: ParsedFile[];
  readonly #origins: Origins;

  /** Creates a map over the parsed files (main first) and the merge origins. */
  constructor(files: ParsedFile[], origins: Origins) {
    this.#files = files;
    this.#origins = origins;
  }

  /** The file names, main first. */
  get files(): string[] {
    return this.#files.map((f) => f.file);
  }

  /** Which file and which path inside it a merged path refers to. */
  resolve(path: readonly PropertyKey[]): { file: ParsedFile; local: PropertyKey[] } {
    const [section, index, ...rest] = path;
    if (typeof section === "string" && typeof index === "number") {
      const origin = this.#origins.items.get(section)?.[index];
      if (origin) {
        return { file: this.#files[origin.file], local: [section, origin.index, ...rest] };
      }
    }
    const fileIndex = typeof section === "string" ? this.#origins.sections.get(section) ?? 0 : 0;
    return { file: this.#files[fileIndex], local: [...path] };
  }

  /** The file of the merged list item `section[index]` (or of the section), for relative paths. */
  fileOf(path: readonly PropertyKey[]): string {
    return this.resolve(path).file.file;
  }

  /** Locates a merged path: its file, line, column, and the path as written in that file. */
  locate(path: readonly PropertyKey[], target: Target = "value"): Location {
    const { file, local } = this.resolve(path);
    const offset = offsetInDocument(file, local, target);
    const { line, col } = file.lines.linePos(offset);
    return { file: file.file, line, col, path: formatPath(local) };
  }
}

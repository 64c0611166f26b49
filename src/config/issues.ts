/**
 * Turning zod issues into operator-facing findings: plain messages ("port 99999 is out
 * of range: expected 1..65535"), "did you mean" for unknown keys and enum values, and a
 * position for each (the unknown key itself, the parent mapping of a missing field).
 *
 * @module
 */
import type { z } from "zod";
import type { Finding } from "./findings.ts";
import type { SourceMap, Target } from "./positions.ts";
import { closest } from "./suggest.ts";

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

/**
 * Keys that moved: where they were (a path with `*` for any list index) and where they
 * live now. Their old place is refused with a pointer to the new one.
 */
export const MOVED_KEYS: readonly { from: readonly (string | "*")[]; to: string; why: string }[] = [
  {
    from: ["servers", "*", "rate_limit"],
    to: "rate_limit",
    why: "one daemon-wide section: the gate and the ban table serve every server",
  },
  {
    from: ["servers", "*", "limits", "reply_rate"],
    to: "limits.reply_rate",
    why: "one reply limiter per destination serves every server",
  },
  {
    from: ["servers", "*", "limits", "replay_cache_entries"],
    to: "limits.replay_cache_entries",
    why: "one replay cache serves every server",
  },
];

/** Where a key at `path` moved to, when it did. */
export function movedKey(path: readonly PropertyKey[]): (typeof MOVED_KEYS)[number] | undefined {
  return MOVED_KEYS.find((m) =>
    m.from.length === path.length &&
    m.from.every((seg, i) => seg === "*" ? typeof path[i] === "number" : seg === path[i])
  );
}

interface Def {
  type: string;
  shape?: Record<string, AnySchema>;
  element?: AnySchema;
  innerType?: AnySchema;
  in?: AnySchema;
  options?: AnySchema[];
}

function defOf(schema: AnySchema): Def {
  return schema._zod.def as unknown as Def;
}

/** Strips wrappers (optional, default, pipe, …) down to the schema that holds the value. */
function unwrap(schema: AnySchema): AnySchema {
  for (let i = 0; i < 16; i++) {
    const def = defOf(schema);
    const inner = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
    if (!inner) return schema;
    schema = inner;
  }
  return schema;
}

/** The alternatives of a schema: the union options, or the schema itself. */
function alternatives(schema: AnySchema): AnySchema[] {
  const s = unwrap(schema);
  const def = defOf(s);
  return def.type === "union" && def.options ? def.options.map(unwrap) : [s];
}

/** The schema at `path` inside `root` (list indexes step into elements); undefined if none. */
export function schemaAt(root: AnySchema, path: readonly PropertyKey[]): AnySchema | undefined {
  let current: AnySchema | undefined = root;
  for (const seg of path) {
    if (!current) return undefined;
    let next: AnySchema | undefined;
    for (const alt of alternatives(current)) {
      const def = defOf(alt);
      if (def.type === "object" && typeof seg === "string" && def.shape?.[seg]) {
        next = def.shape[seg];
      } else if (def.type === "array" && typeof seg === "number") next = def.element;
      if (next) break;
    }
    current = next;
  }
  return current;
}

/** The keys a mapping at `path` may hold (empty when the schema there is not a mapping). */
export function knownKeys(root: AnySchema, path: readonly PropertyKey[]): string[] {
  const at = schemaAt(root, path);
  if (!at) return [];
  for (const alt of alternatives(at)) {
    const def = defOf(alt);
    if (def.type === "object" && def.shape) return Object.keys(def.shape);
  }
  return [];
}

function numberBounds(root: AnySchema, path: readonly PropertyKey[]): [number, number] | undefined {
  const at = schemaAt(root, path);
  if (!at) return undefined;
  for (const alt of alternatives(at)) {
    if (defOf(alt).type !== "number") continue;
    const num = alt as unknown as { minValue: number | null; maxValue: number | null };
    const lo = num.minValue ?? -Infinity;
    const hi = num.maxValue ?? Infinity;
    if (Math.abs(lo) < 1e15 && Math.abs(hi) < 1e15) return [lo, hi];
  }
  return undefined;
}

/** A short description of a YAML value for messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "nothing (null)";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  }
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a mapping (key: value)",
  array: "a list",
  date: "a timestamp",
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = data;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Chooses the union branch that describes the problem best; undefined when only types differ. */
function bestBranch(branches: Issue[][]): Issue[] | undefined {
  const meaningful = branches.filter((issues) =>
    !issues.every((i) => i.code === "invalid_type" && i.path.length === 0)
  );
  if (meaningful.length === 0) return undefined;
  return meaningful.reduce((a, b) => (b.length < a.length ? b : a));
}

interface Draft {
  path: PropertyKey[];
  target: Target;
  message: string;
  code: string;
}

/** Builds the message (and what to point at) for one zod issue. */
function draftsFor(issue: Issue, root: AnySchema, data: unknown, base: PropertyKey[]): Draft[] {
  const path = [...base, ...issue.path];
  const value = valueAt(data, path);
  const draft = (message: string, target: Target = "value", at = path): Draft => ({
    path: at,
    target,
    message,
    code: `schema.${issue.code}`,
  });
  if (
    value === undefined && path.length > 0 && issue.code !== "custom" &&
    issue.code !== "unrecognized_keys"
  ) {
    const field = String(path[path.length - 1]);
    const what = issue.code === "invalid_type"
      ? typeName(issue.expected)
      : issue.code === "invalid_value"
      ? `one of: ${issue.values.map(String).join(", ")}`
      : "";
    return [{
      path: path.slice(0, -1),
      target: "value",
      message: `missing required field "${field}"${what ? ` (${what})` : ""}`,
      code: "schema.missing",
    }];
  }
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = knownKeys(root, path);
      return issue.keys.map((key) => {
        const moved = movedKey([...path, key]);
        if (moved) {
          return {
            path: [...path, key],
            target: "key" as const,
            message: `"${key}" moved to top-level \`${moved.to}\` (${moved.why}): ` +
              `did you mean \`${moved.to}\`?`,
            code: "schema.moved",
          };
        }
        const guess = closest(key, known);
        const hint = guess
          ? `: did you mean "${guess}"?`
          : known.length
          ? `: expected one of ${known.join(", ")}`
          : "";
        return { ...draft(`unknown key "${key}"${hint}`, "key", [...path, key]) };
      });
    }
    case "invalid_type": {
      return [draft(`expected ${typeName(issue.expected)}, got ${describeValue(value)}`)];
    }
    case "too_big":
    case "too_small": {
      if (issue.origin === "number" || issue.origin === "int") {
        const bounds = numberBounds(root, path);
        if (bounds && Number.isFinite(bounds[0]) && Number.isFinite(bounds[1])) {
          return [draft(`${value} is out of range: expected ${bounds[0]}..${bounds[1]}`)];
        }
        const limit = Number(
          (issue as { minimum?: unknown; maximum?: unknown }).minimum ??
            (issue as { maximum?: unknown }).maximum,
        );
        const cmp = issue.code === "too_big"
          ? (issue.inclusive ? "at most" : "less than")
          : (issue.inclusive ? "at least" : "greater than");
        return [draft(`${value} is out of range: expected a number ${cmp} ${limit}`)];
      }
      if (issue.origin === "array") {
        if (!/^Too (big|small)/.test(issue.message)) return [draft(issue.message)];
        const n = Number(
          issue.code === "too_small" ? issue.minimum : (issue as { maximum: unknown }).maximum,
        );
        return [draft(
          issue.code === "too_small"
            ? `needs at least ${plural(n, "item")}`
            : `has too many items: at most ${n}`,
        )];
      }
      if (issue.origin === "string") {
        if (!/^Too (big|small)/.test(issue.message)) return [draft(issue.message)];
        if (issue.code === "too_small") {
          return [draft(
            Number(issue.minimum) <= 1
              ? "must not be empty"
              : `is too short: at least ${plural(Number(issue.minimum), "character")}`,
          )];
        }
        return [draft(`is too long: at most ${plural(Number(issue.maximum), "character")}`)];
      }
      return [draft(issue.message)];
    }
    case "invalid_value": {
      const options = issue.values.map((v) => String(v));
      const guess = typeof value === "string" ? closest(value, options) : undefined;
      return [draft(
        `${describeValue(value)} is not one of: ${options.join(", ")}` +
          (guess ? ` (did you mean "${guess}"?)` : ""),
      )];
    }
    case "invalid_union": {
      const branch = bestBranch(issue.errors as Issue[][]);
      if (branch) return branch.flatMap((i) => draftsFor(i, root, data, path));
      const expected = (issue.errors as Issue[][]).flatMap((b) =>
        b.flatMap((i) => (i.code === "invalid_type" ? [typeName(i.expected)] : []))
      );
      return [
        draft(`expected ${[...new Set(expected)].join(" or ")}, got ${describeValue(value)}`),
      ];
    }
    default:
      return [draft(issue.message)];
  }
}

/** Converts zod issues on the merged config into findings located in their files. */
export function issuesToFindings(
  issues: readonly Issue[],
  root: AnySchema,
  data: unknown,
  sources: SourceMap,
): Finding[] {
  const out: Finding[] = [];
  for (const issue of issues) {
    for (const d of draftsFor(issue, root, data, [])) {
      const loc = sources.locate(d.path, d.target);
      out.push({ severity: "error", ...loc, message: d.message, code: d.code });
    }
  }
  return out;
}

/**
 * A strict parser of the Prometheus text exposition format 0.0.4, written from the spec
 * (exposition_formats.md): every line is a HELP, TYPE, comment or sample; names and label
 * names match the spec's patterns; label values use only the three escapes; a family's
 * samples follow its TYPE and stay together; no sample repeats; histograms are cumulative
 * with a `+Inf` bucket equal to `_count`. Any violation throws with the line number.
 * @module
 */

/** One parsed sample. */
export interface PromSample {
  /** Sample name (with `_bucket`, `_sum`, `_count` for histograms). */
  name: string;
  /** Labels. */
  labels: Record<string, string>;
  /** Value. */
  value: number;
}

/** One metric family. */
export interface PromFamily {
  /** Family name. */
  name: string;
  /** TYPE. */
  type: string;
  /** HELP text (unescaped). */
  help: string;
  /** Samples in order. */
  samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: number): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    throw new Error(`line ${line}: "${text}" is not a sample value`);
  }
  return Number(text);
}

function parseLabels(text: string, line: number): [Record<string, string>, number] {
  // text starts after "{"; returns labels and the index after "}"
  const labels: Record<string, string> = {};
  let i = 0;
  for (;;) {
    if (text[i] === "}") return [labels, i + 1];
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name "${name}"`);
    if (name in labels) throw new Error(`line ${line}: label ${name} repeated`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value must be quoted`);
    let value = "";
    let j = eq + 2;
    for (;; j++) {
      const c = text[j];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === "\\") {
        const n = text[++j];
        if (n === "\\") value += "\\";
        else if (n === '"') value += '"';
        else if (n === "n") value += "\n";
        else throw new Error(`line ${line}: bad escape \\${n}`);
      } else value += c;
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ",") i++;
    else if (text[i] !== "}") throw new Error(`line ${line}: expected "," or "}" after a label`);
  }
}

function familyOf(sample: string, families: Map<string, PromFamily>): PromFamily | undefined {
  const direct = families.get(sample);
  if (direct) return direct;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (sample.endsWith(suffix)) {
      const f = families.get(sample.slice(0, -suffix.length));
      if (f && (f.type === "histogram" || f.type === "summary")) return f;
    }
  }
  return undefined;
}

/** Parses an exposition; throws on the first violation. */
export function parsePromText(text: string): Map<string, PromFamily> {
  if (text !== "" && !text.endsWith("\n")) throw new Error("the exposition must end in a newline");
  const families = new Map<string, PromFamily>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: PromFamily | undefined;
  const lines = text.split("\n").slice(0, -1);
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name "${name}"`);
      let f = families.get(name);
      if (!f) {
        if (closed.has(name)) throw new Error(`line ${line}: family ${name} split`);
        families.set(name, f = { name, type: "untyped", help: "", samples: [] });
      }
      if (current && current !== f) closed.add(current.name);
      current = f;
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) throw new Error(`line ${line}: unknown type "${rest}"`);
        if (f.samples.length) throw new Error(`line ${line}: TYPE after samples of ${name}`);
        f.type = rest;
      } else {
        f.help = rest.replace(/\\(\\|n)/g, (_, c) => c === "n" ? "\n" : "\\");
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(raw);
    if (!m) throw new Error(`line ${line}: not a sample: ${raw}`);
    const name = m[1];
    let rest = m[2];
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) {
      const [l, end] = parseLabels(rest.slice(1), line);
      labels = l;
      rest = rest.slice(1 + end);
    }
    const parts = rest.trim().split(/ +/);
    if (!rest.startsWith(" ") || parts.length < 1 || parts.length > 2) {
      throw new Error(`line ${line}: expected " value [timestamp]"`);
    }
    const value = parseValue(parts[0], line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) {
      throw new Error(`line ${line}: bad timestamp`);
    }
    let f = familyOf(name, families);
    if (!f) {
      families.set(name, f = { name, type: "untyped", help: "", samples: [] });
    }
    if (closed.has(f.name)) throw new Error(`line ${line}: samples of ${f.name} are split`);
    if (current && current !== f) closed.add(current.name);
    current = f;
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) throw new Error(`line ${line}: sample ${key} repeated`);
    seen.add(key);
    if (f.type === "counter" && !(value >= 0)) throw new Error(`line ${line}: negative counter`);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: PromFamily): void {
  const groups = new Map<string, PromSample[]>();
  for (const s of f.samples) {
    const { le: _, ...rest } = s.labels;
    const k = JSON.stringify(Object.entries(rest).sort());
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  for (const [k, samples] of groups) {
    const buckets = samples.filter((s) => s.name === `${f.name}_bucket`);
    if (buckets.some((b) => b.labels.le === undefined)) {
      throw new Error(`${f.name}: bucket without le`);
    }
    let prevLe = -Infinity;
    let prev = 0;
    for (const b of buckets) {
      const le = parseValue(b.labels.le, 0);
      if (le <= prevLe) throw new Error(`${f.name}${k}: buckets out of order`);
      if (b.value < prev) throw new Error(`${f.name}${k}: buckets not cumulative`);
      prevLe = le;
      prev = b.value;
    }
    if (prevLe !== Infinity) throw new Error(`${f.name}${k}: no +Inf bucket`);
    const count = samples.find((s) => s.name === `${f.name}_count`);
    if (!count || count.value !== prev) throw new Error(`${f.name}${k}: _count != +Inf bucket`);
    if (!samples.some((s) => s.name === `${f.name}_sum`)) throw new Error(`${f.name}${k}: no _sum`);
  }
}

/** The value of the sample `name` whose labels include `labels` (undefined when none). */
export function sampleValue(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

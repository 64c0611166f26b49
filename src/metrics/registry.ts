/**
 * A small Prometheus registry: counters and histograms with labels (each bounded in label
 * sets, so names from the network can never grow it without end) and gauges read at scrape
 * time. {@linkcode Registry.render} writes the text exposition format 0.0.4.
 * @module
 */

/** Label names to values. */
export type Labels = Record<string, string>;

/** Most label sets one metric keeps; past it new sets go to `overflow="true"`. */
export const MAX_LABEL_SETS = 1000;

/** The content type of the text format. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Escapes a label value (backslash, double quote, newline). */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Escapes HELP text (backslash, newline). */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A number as the text format writes it. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function key(labels: Labels): string {
  return JSON.stringify(Object.entries(labels));
}

/** One sample as a gauge callback returns it. */
export interface Sample {
  /** Labels of the sample. */
  labels?: Labels;
  /** Its value. */
  value: number;
}

/**
 * The entry of `labels` in `values`, made by `fresh` when new. Past {@linkcode MAX_LABEL_SETS}
 * label sets a new one goes to the single `{ overflow: "true" }` entry instead, so the table
 * stays bounded whatever labels network input brings.
 */
function entryFor<E>(values: Map<string, E>, labels: Labels, fresh: (labels: Labels) => E): E {
  let k = key(labels);
  let entry = values.get(k);
  if (entry) return entry;
  if (values.size >= MAX_LABEL_SETS) {
    labels = { overflow: "true" };
    k = key(labels);
    entry = values.get(k);
    if (entry) return entry;
  }
  entry = fresh(labels);
  values.set(k, entry);
  return entry;
}

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  lines(): string[];
}

/** A monotonically increasing count per label set. */
export class Counter implements Family {
  readonly type = "counter";
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  /** Creates a counter (`name` ends in `_total`). */
  constructor(readonly name: string, readonly help: string) {}

  /** Adds `by` (default 1) to the label set. */
  inc(labels: Labels = {}, by = 1): void {
    entryFor(this.#values, labels, (l) => ({ labels: l, value: 0 })).value += by;
  }

  /** The value of a label set (0 when never counted). */
  get(labels: Labels = {}): number {
    return this.#values.get(key(labels))?.value ?? 0;
  }

  /** The exposition lines. */
  lines(): string[] {
    return [...this.#values.values()].map((e) =>
      `${this.name}${labelText(e.labels)} ${formatValue(e.value)}`
    );
  }
}

/** Values read when scraped. */
export class Gauge implements Family {
  readonly type: "gauge" | "counter";
  readonly #read: () => Sample[];

  /**
   * Creates a gauge whose samples `read` returns at each scrape; `asCounter` exposes a
   * count kept elsewhere (it must only grow) as a counter.
   */
  constructor(
    readonly name: string,
    readonly help: string,
    read: () => Sample[],
    asCounter = false,
  ) {
    this.#read = read;
    this.type = asCounter ? "counter" : "gauge";
  }

  /** The exposition lines. */
  lines(): string[] {
    return this.#read().map((s) =>
      `${this.name}${labelText(s.labels ?? {})} ${formatValue(s.value)}`
    );
  }
}

/** Observations counted into fixed buckets, per label set. */
export class Histogram implements Family {
  readonly type = "histogram";
  readonly #buckets: number[];
  readonly #values = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; n: number }
  >();

  /** Creates a histogram with upper bounds `buckets` (ascending; +Inf is added). */
  constructor(readonly name: string, readonly help: string, buckets: number[]) {
    this.#buckets = [...buckets].sort((a, b) => a - b);
  }

  /** Records one observation. */
  observe(value: number, labels: Labels = {}): void {
    const entry = entryFor(this.#values, labels, (l) => ({
      labels: l,
      counts: this.#buckets.map(() => 0),
      sum: 0,
      n: 0,
    }));
    for (let i = 0; i < this.#buckets.length; i++) if (value <= this.#buckets[i]) entry.counts[i]++;
    entry.sum += value;
    entry.n++;
  }

  /** Observations of a label set. */
  count(labels: Labels = {}): number {
    return this.#values.get(key(labels))?.n ?? 0;
  }

  /** The exposition lines (cumulative buckets, sum, count). */
  lines(): string[] {
    const out: string[] = [];
    for (const e of this.#values.values()) {
      this.#buckets.forEach((le, i) => {
        out.push(
          `${this.name}_bucket${labelText(e.labels, ["le", formatValue(le)])} ${e.counts[i]}`,
        );
      });
      out.push(`${this.name}_bucket${labelText(e.labels, ["le", "+Inf"])} ${e.n}`);
      out.push(`${this.name}_sum${labelText(e.labels)} ${formatValue(e.sum)}`);
      out.push(`${this.name}_count${labelText(e.labels)} ${e.n}`);
    }
    return out;
  }
}

/** A set of metric families rendered together. */
export class Registry {
  readonly #families: Family[] = [];

  /** Adds a family (names must be unique). */
  add<T extends Family>(family: T): T {
    if (this.#families.some((f) => f.name === family.name)) {
      throw new Error(`metric ${family.name} registered twice`);
    }
    this.#families.push(family);
    return family;
  }

  /** The text exposition of every family. */
  render(): string {
    let out = "";
    for (const f of this.#families) {
      let lines: string[];
      try {
        lines = f.lines();
      } catch {
        continue; // a gauge whose source is gone is left out, not the whole scrape
      }
      out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
      for (const l of lines) out += l + "\n";
    }
    return out;
  }
}

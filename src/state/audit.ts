/**
 * What a state store refused to hand over: a record that does not parse, has the wrong
 * shape, an old format or a value out of range. The store is input like the network is
 * (whoever can write a cluster's Redis writes it), so a bad record is skipped, counted
 * and logged, never trusted and never fatal.
 *
 * Logging is bounded: the first {@linkcode LOGGED_PER_NAMESPACE} refusals of each
 * namespace are logged one by one (key and reason cut to a few dozen characters; the
 * logger escapes control characters), the rest only counted, so a store stuffed with a
 * million junk records costs a million counter increments, not a million log lines.
 * @module
 */
import { logger } from "../util/log.ts";

/** Refusals logged one by one per namespace; later ones are only counted. */
export const LOGGED_PER_NAMESPACE = 20;

const MAX_TEXT = 96;

function cut(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…(${text.length} chars)` : text;
}

/** Counts and logs records a store (or a reader above it) refused. */
export class RecordAudit {
  readonly #counts = new Map<string, number>();
  readonly #log = logger("state");

  /** Records that `namespace`/`key` was skipped because of `why`. */
  reject(namespace: string, key: string, why: string): void {
    const n = (this.#counts.get(namespace) ?? 0) + 1;
    this.#counts.set(namespace, n);
    if (n <= LOGGED_PER_NAMESPACE) {
      this.#log.warn("state store: skipped {namespace} record {key}: {why}{more}", {
        namespace,
        key: JSON.stringify(cut(key)),
        why: cut(why),
        more: n === LOGGED_PER_NAMESPACE ? " (further refusals here are only counted)" : "",
      });
    }
  }

  /** Refusals so far, by namespace. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }

  /** All refusals so far. */
  get total(): number {
    let n = 0;
    for (const v of this.#counts.values()) n += v;
    return n;
  }
}

/**
 * The daemon's one nftables table, `table inet siglatch`, shared by the grant backend
 * (`grants.ts`) and the ban mirror (`bans.ts`): each owns named sets and one chain in it and
 * never touches another object or another table. This module holds what both need: the
 * name, the timeout format, a cheap look at the table (`nft -t -j list table`: objects and
 * rule counts, no set elements, so it costs the same with 100k elements as with none) and
 * the "remove my objects, and the table only when nothing else is left" teardown.
 * @module
 */
import { type NftRun, runNft } from "./run.ts";

/** The shared table's name (family `inet`). */
export const TABLE = "siglatch";
/** `inet siglatch`, as written in script lines. */
export const T = `inet ${TABLE}`;

/** An nft timeout for `ms` (at least 1 s: the kernel's sets tick in jiffies). */
export function nftTimeout(ms: number): string {
  return `${Math.max(1000, Math.ceil(ms))}ms`;
}

/** What a terse listing of the table shows. */
export interface TableView {
  /** False when the table does not exist (or nft failed: then `error` says why). */
  exists: boolean;
  /** `kind:name` of every named object (`set:grants_v4`, `chain:bans`, …). */
  objects: Set<string>;
  /** Rules per chain name. */
  rules: Map<string, number>;
  /** `type/hook/prio` per base chain name. */
  chains: Map<string, string>;
  /** nft's message when the listing failed for another reason than a missing table. */
  error?: string;
}

/** Parses `nft -j list table` output (elements or not) into a {@linkcode TableView}. */
export function parseTable(json: string): TableView {
  const view: TableView = {
    exists: false,
    objects: new Set(),
    rules: new Map(),
    chains: new Map(),
  };
  try {
    const parsed = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
    for (const item of parsed.nftables ?? []) {
      for (const [kind, raw] of Object.entries(item)) {
        const body = (raw ?? {}) as Record<string, unknown>;
        if (kind === "metainfo") continue;
        if (kind === "table") {
          view.exists = true;
        } else if (kind === "rule") {
          const chain = String(body.chain);
          view.rules.set(chain, (view.rules.get(chain) ?? 0) + 1);
        } else {
          const name = typeof body.name === "string" ? body.name : "?";
          view.objects.add(`${kind}:${name}`);
          if (kind === "chain" && body.hook !== undefined) {
            view.chains.set(name, `${body.type}/${body.hook}/${body.prio}`);
          }
        }
      }
    }
  } catch {
    view.exists = true; // unparsable: never treat as empty (teardown must not delete blindly)
    view.objects.add("unparsable:?");
  }
  return view;
}

/** Lists the table tersely (no set elements) through `command`. */
export async function viewTable(command: readonly string[]): Promise<TableView> {
  let res: NftRun;
  try {
    res = await runNft(command, "", ["-t", "-j", "list", "table", "inet", TABLE]);
  } catch (err) {
    return { ...parseTable("{}"), error: err instanceof Error ? err.message : String(err) };
  }
  if (res.code === 0) return parseTable(res.stdout);
  const msg = res.stderr.trim();
  const view = parseTable("{}");
  if (!/No such file or directory/.test(msg)) view.error = msg || `nft exit ${res.code}`;
  return view;
}

/**
 * Deletes `chain` and `sets` from the table when present, then the table itself when no
 * other object is left in it. Throws with nft's message when the deletion fails.
 */
export async function removeOwned(
  command: readonly string[],
  chain: string,
  sets: readonly string[],
): Promise<void> {
  const view = await viewTable(command);
  if (!view.exists) return;
  const mine = new Set([`chain:${chain}`, ...sets.map((s) => `set:${s}`)]);
  const lines: string[] = [];
  if (view.objects.has(`chain:${chain}`)) lines.push(`delete chain ${T} ${chain}`);
  for (const s of sets) if (view.objects.has(`set:${s}`)) lines.push(`delete set ${T} ${s}`);
  if ([...view.objects].every((o) => mine.has(o))) lines.push(`delete table ${T}`);
  if (lines.length === 0) return;
  const res = await runNft(command, lines.join("\n") + "\n");
  if (res.code !== 0) throw new Error(`nft teardown failed: ${res.stderr.trim()}`);
}

/**
 * What of `chain` (with `rules` rules) and `sets` is missing from `view`, as short names
 * (`table`, `set:grants_v4`, `rules:grants`); empty when everything is in place.
 */
export function missingFrom(
  view: TableView,
  chain: string,
  rules: number,
  sets: readonly string[],
): string[] {
  if (!view.exists) return ["table"];
  const out: string[] = [];
  for (const s of sets) if (!view.objects.has(`set:${s}`)) out.push(`set:${s}`);
  if (!view.objects.has(`chain:${chain}`)) out.push(`chain:${chain}`);
  else if ((view.rules.get(chain) ?? 0) !== rules) out.push(`rules:${chain}`);
  return out;
}

/** Options every nftables backend here takes (grants and bans). */
export interface NftBackendOptions {
  /** The nft argv prefix, e.g. `["ip", "netns", "exec", "ns1", "nft"]`; default `["nft"]`. */
  command?: string[];
  /** Clock (epoch ms). */
  clock?: () => number;
  /** Most element changes per nft process. */
  maxBatch?: number;
  /** Called with nft's message when a change could not be applied (or a source is refused). */
  onError?: (message: string) => void;
  /** Probe period (ms) for reconciliation; 0 (default) = only after a failed batch. */
  reconcileMs?: number;
  /** Called after a reconcile repair with what was missing. */
  onRepair?: (missing: string[]) => void;
}

/**
 * Reassembly of fragmented messages with hard limits: bytes per message, fragments per
 * message, pending messages per source and in total, pending bytes in total, age.
 * Tables never grow past their limits: a new message evicts the oldest pending one
 * (of its source first), so nobody can lock out new sessions, and stale ones expire.
 * @module
 */
import { parseFragment } from "./fragment.ts";

/** Limits of a {@linkcode Reassembler}. */
export interface ReassemblyLimits {
  /** Max bytes of one reassembled message (default 64 KiB). */
  maxMessageBytes: number;
  /** Max fragments in one message (default 128). */
  maxFragments: number;
  /** Max messages pending per source (default 4). */
  maxPendingPerSource: number;
  /** Max messages pending in total (default 1024). */
  maxPendingTotal: number;
  /** Max bytes held in pending messages in total (default 16 MiB). */
  maxPendingBytes: number;
  /** Max age of a pending message in ms (default 10 s). */
  maxAgeMs: number;
}

/** Default {@linkcode ReassemblyLimits}. */
export const DEFAULT_REASSEMBLY_LIMITS: Readonly<ReassemblyLimits> = Object.freeze({
  maxMessageBytes: 64 * 1024,
  maxFragments: 128,
  maxPendingPerSource: 4,
  maxPendingTotal: 1024,
  maxPendingBytes: 16 * 1024 * 1024,
  maxAgeMs: 10_000,
});

/** Why a fragment was refused. */
export type FragmentReason =
  | "bad_fragment"
  | "too_many_fragments"
  | "message_too_large"
  | "fragment_mismatch"
  | "duplicate_fragment";

/** Outcome of {@linkcode Reassembler.add}. */
export type ReassemblyResult =
  | { status: "pending"; received: number; count: number }
  | { status: "complete"; data: Uint8Array }
  | { status: "rejected"; reason: FragmentReason };

/** Counters of a {@linkcode Reassembler}. */
export interface ReassemblyStats {
  /** Messages completed. */
  completed: number;
  /** Pending messages dropped for age. */
  expired: number;
  /** Pending messages evicted to make room. */
  evicted: number;
  /** Fragments refused. */
  rejected: number;
}

interface Pending {
  key: string;
  source: string;
  created: number;
  count: number;
  received: number;
  bytes: number;
  chunks: (Uint8Array | undefined)[];
}

/** Collects fragments per (source, user, session) until a message is complete. */
export class Reassembler {
  /** Effective limits. */
  readonly limits: Readonly<ReassemblyLimits>;
  /** Counters. */
  readonly stats: ReassemblyStats = { completed: 0, expired: 0, evicted: 0, rejected: 0 };
  readonly #clock: () => number;
  /** Insertion order = creation order (oldest first). */
  readonly #pending = new Map<string, Pending>();
  readonly #bySource = new Map<string, string[]>();
  #bytes = 0;

  /** A reassembler with the given limits (defaults for the rest). */
  constructor(limits: Partial<ReassemblyLimits> = {}, clock: () => number = Date.now) {
    this.limits = Object.freeze({ ...DEFAULT_REASSEMBLY_LIMITS, ...limits });
    for (const [k, v] of Object.entries(this.limits)) {
      if (!(typeof v === "number" && v >= 1)) {
        throw new RangeError(`reassembly limit ${k} must be ≥ 1`);
      }
    }
    this.#clock = clock;
  }

  /** Messages pending. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Bytes held by pending messages. */
  get pendingBytes(): number {
    return this.#bytes;
  }

  #remove(p: Pending): void {
    this.#pending.delete(p.key);
    this.#bytes -= p.bytes;
    const list = this.#bySource.get(p.source);
    if (list !== undefined) {
      const i = list.indexOf(p.key);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.#bySource.delete(p.source);
    }
  }

  #expire(now: number): void {
    for (const p of this.#pending.values()) {
      if (now - p.created <= this.limits.maxAgeMs && p.created <= now) break;
      this.#remove(p);
      this.stats.expired++;
    }
  }

  #evictOldest(source?: string): void {
    let victim: Pending | undefined;
    if (source !== undefined) {
      const k = this.#bySource.get(source)?.[0];
      victim = k === undefined ? undefined : this.#pending.get(k);
    } else {
      victim = this.#pending.values().next().value;
    }
    if (victim !== undefined) {
      this.#remove(victim);
      this.stats.evicted++;
    }
  }

  #reject(reason: FragmentReason): ReassemblyResult {
    this.stats.rejected++;
    return { status: "rejected", reason };
  }

  /**
   * Adds one authenticated fragment payload from `source` (e.g. the IP address) for
   * `userId`/`sessionId`. Returns the whole message when the last fragment arrives.
   */
  add(source: string, userId: number, sessionId: bigint, payload: Uint8Array): ReassemblyResult {
    const now = this.#clock();
    this.#expire(now);
    const frag = parseFragment(payload);
    if (frag === null) return this.#reject("bad_fragment");
    const L = this.limits;
    if (frag.count > L.maxFragments) return this.#reject("too_many_fragments");
    if (frag.chunk.length > L.maxMessageBytes) return this.#reject("message_too_large");
    const key = `${source}|${userId}|${sessionId}`;
    let p = this.#pending.get(key);
    if (p !== undefined && p.count !== frag.count) {
      this.#remove(p);
      return this.#reject("fragment_mismatch");
    }
    if (p === undefined) {
      if (frag.count === 1) {
        this.stats.completed++;
        return { status: "complete", data: frag.chunk.slice() };
      }
      const mine = this.#bySource.get(source);
      while (mine !== undefined && mine.length >= L.maxPendingPerSource) this.#evictOldest(source);
      while (this.#pending.size >= L.maxPendingTotal) this.#evictOldest();
      p = { key, source, created: now, count: frag.count, received: 0, bytes: 0, chunks: [] };
      this.#pending.set(key, p);
      const list = this.#bySource.get(source);
      if (list === undefined) this.#bySource.set(source, [key]);
      else list.push(key);
    }
    if (p.chunks[frag.index] !== undefined) return this.#reject("duplicate_fragment");
    if (p.bytes + frag.chunk.length > L.maxMessageBytes) {
      this.#remove(p);
      return this.#reject("message_too_large");
    }
    // Make room in the global byte budget, oldest first (never this message).
    while (this.#bytes + frag.chunk.length > L.maxPendingBytes) {
      const oldest = this.#pending.values().next().value;
      if (oldest === undefined || oldest === p) break;
      this.#remove(oldest);
      this.stats.evicted++;
    }
    if (this.#bytes + frag.chunk.length > L.maxPendingBytes) {
      this.#remove(p);
      return this.#reject("message_too_large");
    }
    p.chunks[frag.index] = frag.chunk.slice();
    p.received++;
    p.bytes += frag.chunk.length;
    this.#bytes += frag.chunk.length;
    if (p.received < p.count) return { status: "pending", received: p.received, count: p.count };
    this.#remove(p);
    const data = new Uint8Array(p.bytes);
    let off = 0;
    for (const c of p.chunks) {
      data.set(c!, off);
      off += c!.length;
    }
    this.stats.completed++;
    return { status: "complete", data };
  }

  /** Drops every pending message. */
  clear(): void {
    this.#pending.clear();
    this.#bySource.clear();
    this.#bytes = 0;
  }
}

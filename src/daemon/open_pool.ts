/**
 * Opens request datagrams (X25519 + HKDF + AEAD + user auth, `RequestOpener.open`) in a pool
 * of Web Workers so that opens use every core. The receive path calls {@linkcode OpenPool.open}
 * after its cheap synchronous checks and awaits the result.
 *
 * Two queues: datagrams whose source proved itself (valid mac2, the caller says so) are always
 * taken before unproven ones. Both share one bound, `queueLimit` datagrams queued: when it is
 * reached a new unproven datagram is refused and a proven one evicts the oldest unproven one
 * (never another proven one). A free worker takes everything queued, up to `maxBatch`, in one
 * message: one packed, transferred buffer per batch instead of one message per datagram.
 *
 * A `ReplySealer` cannot cross threads: the worker returns the reply key and the sealer is
 * rebuilt here. A worker that dies is replaced; its in-flight opens resolve as `internal`.
 * @module
 */
import { x25519PublicFromPrivate } from "../crypto/keys.ts";
import { constantTimeEqual } from "../crypto/ct.ts";
import { type OpenResult, ReplySealer } from "../wire/mod.ts";
import type {
  BatchMessage,
  KeysMessage,
  PoolServer,
  PoolUser,
  ReadyMessage,
  ResultsMessage,
  WorkerResult,
} from "./open_worker.ts";

export type { PoolServer, PoolUser } from "./open_worker.ts";

/**
 * Why the pool, not the datagram, ended an open: `internal` (the worker died), `evicted` (a
 * proven datagram took its place in a full queue), `stopped` (the pool stopped). None of these
 * says anything about the datagram's source: never count them as its failure.
 */
export type PoolReason = "internal" | "evicted" | "stopped";

/** What {@linkcode OpenPool.open} resolves to. */
export type PoolOpenResult = OpenResult | { ok: false; reason: PoolReason };

const POOL_REASONS: ReadonlySet<string> = new Set<PoolReason>(["internal", "evicted", "stopped"]);

/** True when the pool, not the datagram, ended the open (see {@linkcode PoolReason}). */
export function isPoolFailure(r: PoolOpenResult): r is { ok: false; reason: PoolReason } {
  return !r.ok && POOL_REASONS.has(r.reason);
}

/** Options of {@linkcode OpenPool.start}. */
export interface OpenPoolOptions {
  /** Number of workers (default `navigator.hardwareConcurrency`). */
  workers?: number;
  /** Every server's keys. */
  servers: PoolServer[];
  /** Every user's verifiers. */
  users: PoolUser[];
  /** Most datagrams queued (proven and unproven together), not counting those in flight. */
  queueLimit: number;
  /** Clock in epoch ms (default `Date.now`); read once per batch, for the time window. */
  clock?: () => number;
  /** Most datagrams in one worker message (default 32). */
  maxBatch?: number;
  /**
   * Batches a worker may hold at once (default 1: a proven datagram waits at most for the
   * batch in progress; 2 did not measure faster on 2 cores).
   */
  batchesPerWorker?: number;
  /** Worker module (default `./open_worker.ts`; tests substitute one that can crash). */
  workerUrl?: URL;
}

/** Counters of the pool's life. */
export interface PoolStats {
  /** Datagrams opened by a worker. */
  opened: number;
  /** Batches sent to workers. */
  batches: number;
  /** Unproven datagrams evicted by proven ones. */
  evicted: number;
  /** Datagrams refused because the queue was full. */
  refused: number;
  /** Workers replaced after dying. */
  replaced: number;
  /** X25519 operations the workers reported with their results (a worker's unanswered batch is not counted). */
  x25519: number;
}

type Resolve = (r: PoolOpenResult) => void;

interface Job {
  server: string;
  datagram: Uint8Array;
  resolve: Resolve;
  /** `performance.now()` when queued. */
  at: number;
}

interface Slot {
  worker: Worker | null;
  /** Batches sent and not yet answered, oldest first. */
  batches: Job[][];
  lastDeath: number;
  respawn?: ReturnType<typeof setTimeout>;
}

/** A FIFO of jobs with O(1) push and shift. */
class Fifo {
  #items: (Job | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(j: Job): void {
    this.#items.push(j);
  }

  peek(): Job | undefined {
    return this.#items[this.#head];
  }

  shift(): Job | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const j = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return j;
  }

  drain(): Job[] {
    const out = this.#items.slice(this.#head) as Job[];
    this.#items = [];
    this.#head = 0;
    return out;
  }
}

const DEFAULT_WORKER_URL = new URL("./open_worker.ts", import.meta.url);
/** A worker that never loaded, or died within this long of its last death, is respawned after it. */
const RESPAWN_BACKOFF_MS = 1000;

function checkKeys(servers: PoolServer[]): void {
  for (const s of servers) {
    if (
      s.x25519Private.length !== 32 || s.x25519Public.length !== 32 ||
      !constantTimeEqual(x25519PublicFromPrivate(s.x25519Private), s.x25519Public)
    ) {
      throw new RangeError(`server ${s.name}: x25519Public does not match x25519Private`);
    }
  }
}

/** A pool of Workers that open request datagrams, proven ones first. */
export class OpenPool {
  readonly #slots: Slot[];

  /** Number of workers. */
  get size(): number {
    return this.#slots.length;
  }
  readonly #url: URL;
  readonly #clock: () => number;
  readonly #queueLimit: number;
  readonly #maxBatch: number;
  readonly #perWorker: number;
  readonly #proven = new Fifo();
  readonly #unproven = new Fifo();
  #keys: KeysMessage;
  #inFlight = 0;
  #stopped = false;
  readonly #stats: PoolStats = {
    opened: 0,
    batches: 0,
    evicted: 0,
    refused: 0,
    replaced: 0,
    x25519: 0,
  };

  private constructor(opts: OpenPoolOptions) {
    const n = opts.workers ?? navigator.hardwareConcurrency;
    if (!Number.isInteger(n) || n < 1) throw new RangeError("workers must be a positive integer");
    if (!Number.isInteger(opts.queueLimit) || opts.queueLimit < 1) {
      throw new RangeError("queueLimit must be a positive integer");
    }
    checkKeys(opts.servers);
    this.#url = opts.workerUrl ?? DEFAULT_WORKER_URL;
    this.#clock = opts.clock ?? Date.now;
    this.#queueLimit = opts.queueLimit;
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 32);
    this.#perWorker = Math.max(1, opts.batchesPerWorker ?? 1);
    this.#keys = { t: "keys", servers: opts.servers, users: opts.users };
    this.#slots = Array.from({ length: n }, () => ({ worker: null, batches: [], lastDeath: 0 }));
  }

  /**
   * Starts the workers and waits until each has loaded.
   * @throws {RangeError} for bad options or a server whose public key does not match its private key.
   * @throws {Error} when a worker fails to load.
   */
  static async start(opts: OpenPoolOptions): Promise<OpenPool> {
    const pool = new OpenPool(opts);
    try {
      await Promise.all(pool.#slots.map((slot) => pool.#spawn(slot)));
    } catch (e) {
      await pool.stop();
      throw e;
    }
    return pool;
  }

  /** Datagrams queued plus those in flight in workers: the daemon's load signal. */
  get depth(): number {
    return this.#proven.length + this.#unproven.length + this.#inFlight;
  }

  /** How long the oldest queued datagram has waited, in ms (0 when none waits). */
  get lagMs(): number {
    const a = this.#proven.peek()?.at ?? Infinity;
    const b = this.#unproven.peek()?.at ?? Infinity;
    const oldest = Math.min(a, b);
    return oldest === Infinity ? 0 : performance.now() - oldest;
  }

  /** Counters since start (a snapshot). */
  get stats(): PoolStats {
    return { ...this.#stats };
  }

  /**
   * New keys for every worker (reload). A batch is opened entirely with the keys a worker had
   * when it took the batch, so one open never mixes old and new keys.
   * @throws {RangeError} when a server's public key does not match its private key (nothing changes).
   */
  update(servers: PoolServer[], users: PoolUser[]): void {
    checkKeys(servers);
    this.#keys = { t: "keys", servers, users };
    for (const slot of this.#slots) slot.worker?.postMessage(this.#keys);
  }

  /**
   * Queues a datagram for `server`. `proven`: its source proved its address (valid mac2).
   * Returns `undefined` when the queue is full (the caller drops and counts it); never throws.
   * The datagram is copied: the caller may keep using it.
   */
  open(server: string, datagram: Uint8Array, proven: boolean): Promise<PoolOpenResult> | undefined {
    if (this.#stopped) return Promise.resolve({ ok: false, reason: "stopped" });
    const queued = this.#proven.length + this.#unproven.length;
    if (queued >= this.#queueLimit) {
      if (!proven || this.#unproven.length === 0) {
        this.#stats.refused++;
        return undefined;
      }
      this.#stats.evicted++;
      this.#unproven.shift()!.resolve({ ok: false, reason: "evicted" });
    }
    let resolve!: Resolve;
    const p = new Promise<PoolOpenResult>((r) => resolve = r);
    (proven ? this.#proven : this.#unproven).push({
      server,
      datagram,
      resolve,
      at: performance.now(),
    });
    this.#pump();
    return p;
  }

  /** Stops every worker; everything queued or in flight resolves as `stopped`. */
  stop(): Promise<void> {
    this.#stopped = true;
    for (const slot of this.#slots) {
      if (slot.respawn !== undefined) clearTimeout(slot.respawn);
      slot.worker?.terminate();
      slot.worker = null;
      for (const batch of slot.batches.splice(0)) this.#fail(batch, "stopped");
    }
    this.#fail(this.#proven.drain(), "stopped");
    this.#fail(this.#unproven.drain(), "stopped");
    this.#inFlight = 0;
    return Promise.resolve();
  }

  #fail(jobs: Job[], reason: PoolReason): void {
    for (const j of jobs) j.resolve({ ok: false, reason });
  }

  /** Hands queued datagrams to the least busy workers with room. */
  #pump(): void {
    while (this.#proven.length + this.#unproven.length > 0) {
      let best: Slot | undefined;
      for (const s of this.#slots) {
        if (s.worker === null || s.batches.length >= this.#perWorker) continue;
        if (best === undefined || s.batches.length < best.batches.length) best = s;
      }
      if (best === undefined) return;
      this.#send(best);
    }
  }

  #send(slot: Slot): void {
    let now: number;
    try {
      now = this.#clock();
    } catch {
      now = Date.now();
    }
    const jobs: Job[] = [];
    let bytes = 0;
    while (jobs.length < this.#maxBatch) {
      const j = this.#proven.shift() ?? this.#unproven.shift();
      if (j === undefined) break;
      jobs.push(j);
      bytes += j.datagram.length;
    }
    const data = new Uint8Array(bytes);
    const lengths: number[] = [];
    const servers: string[] = [];
    let at = 0;
    for (const j of jobs) {
      data.set(j.datagram, at);
      at += j.datagram.length;
      lengths.push(j.datagram.length);
      servers.push(j.server);
    }
    const m: BatchMessage = { t: "batch", now, data, lengths, servers };
    slot.batches.push(jobs);
    this.#inFlight += jobs.length;
    this.#stats.batches++;
    slot.worker!.postMessage(m, [data.buffer]);
  }

  #results(slot: Slot, m: ResultsMessage): void {
    const jobs = slot.batches.shift();
    if (jobs === undefined) return;
    this.#inFlight -= jobs.length;
    this.#stats.opened += jobs.length;
    if (Number.isSafeInteger(m.x25519) && m.x25519 > 0) this.#stats.x25519 += m.x25519;
    for (let i = 0; i < jobs.length; i++) {
      const w = m.results[i];
      jobs[i].resolve(w === undefined ? { ok: false, reason: "internal" } : rebuild(w));
    }
    this.#pump();
  }

  /** Starts a worker in `slot`; resolves when it has loaded, rejects if it fails to. */
  #spawn(slot: Slot): Promise<void> {
    const worker = new Worker(this.#url, { type: "module" });
    slot.worker = worker;
    slot.batches = [];
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    let ready = false;
    worker.onmessage = (e: MessageEvent<ResultsMessage | ReadyMessage>) => {
      if (e.data.t === "ready") {
        ready = true;
        resolve();
      } else this.#results(slot, e.data);
    };
    const died = (e: Event) => {
      e.preventDefault();
      if (!ready) reject(new Error(`open worker failed to start: ${(e as ErrorEvent).message}`));
      this.#died(slot, worker, ready);
    };
    worker.onerror = died;
    worker.onmessageerror = died;
    worker.postMessage(this.#keys);
    return promise;
  }

  /** Replaces a dead worker; its in-flight opens resolve as `internal`. */
  #died(slot: Slot, worker: Worker, loaded: boolean): void {
    if (slot.worker !== worker) return;
    worker.terminate();
    slot.worker = null;
    for (const batch of slot.batches.splice(0)) {
      this.#inFlight -= batch.length;
      this.#fail(batch, "internal");
    }
    if (this.#stopped) return;
    this.#stats.replaced++;
    const now = Date.now();
    // One that never loaded, or died again soon, would only die again at once.
    const wait = !loaded || now - slot.lastDeath < RESPAWN_BACKOFF_MS ? RESPAWN_BACKOFF_MS : 0;
    slot.lastDeath = now;
    const again = () => {
      slot.respawn = undefined;
      if (this.#stopped) return;
      this.#spawn(slot).catch(() => {/* a failed start reports through #died */});
      this.#pump();
    };
    if (wait === 0) again();
    else slot.respawn = setTimeout(again, wait);
  }
}

function rebuild(w: WorkerResult): PoolOpenResult {
  const s = w.sealer;
  if (s === undefined) return w.result as PoolOpenResult;
  return {
    ...w.result,
    replier: new ReplySealer(s.version, s.requestId, () => s.key),
  } as PoolOpenResult;
}

/**
 * The Worker side of {@linkcode OpenPool} (`./open_pool.ts`): holds one `RequestOpener` per
 * server and the user verifiers, opens batches of datagrams, and answers each with the
 * result minus its `ReplySealer` (which cannot cross threads) plus the 32-byte reply key the
 * main thread rebuilds the sealer from. A keys message swaps servers and users whole, between
 * two batches, so one open never mixes old and new keys.
 * @module
 */
import {
  type OpenResult,
  type ReplySealer,
  RequestOpener,
  type UserVerifier,
} from "../wire/mod.ts";
import { KeyRing } from "../rotation/keyring.ts";
import { x25519Stats } from "../crypto/keys.ts";

/** One server's keys as the pool hands them to its workers. */
export interface PoolServer {
  /** Server name (what `OpenPool.open` is called with). */
  name: string;
  /** Raw X25519 private key. */
  x25519Private: Uint8Array;
  /** Raw X25519 public key. */
  x25519Public: Uint8Array;
  /** Accepts insecure (signed, plain) requests instead of secure ones. */
  insecure: boolean;
  /** Accepted clock difference in ms, each way. */
  skewMs: number;
  /** The previous key during a rotation's grace period. */
  previous?: { x25519Private: Uint8Array; x25519Public: Uint8Array };
}

/** One user's verifiers as the pool hands them to its workers. */
export interface PoolUser {
  /** User id (u32). */
  id: number;
  /** 32-byte HMAC key. */
  hmacKey?: Uint8Array;
  /** 32-byte Ed25519 public key. */
  ed25519Public?: Uint8Array;
  /** The HMAC key before a user key rotation. */
  previousHmacKey?: Uint8Array;
}

/** Main → worker: new keys, used from the next batch on. */
export interface KeysMessage {
  /** Discriminator. */
  t: "keys";
  /** Every server. */
  servers: PoolServer[];
  /** Every user. */
  users: PoolUser[];
}

/** Main → worker: datagrams to open, packed into one transferred buffer. */
export interface BatchMessage {
  /** Discriminator. */
  t: "batch";
  /** Clock of the main thread when the batch was sent (epoch ms). */
  now: number;
  /** The datagrams, back to back. */
  data: Uint8Array;
  /** Length of each datagram in `data`, in order. */
  lengths: number[];
  /** Server name of each datagram. */
  servers: string[];
}

/** What the main thread needs to rebuild a `ReplySealer`. */
export interface SealerParts {
  /** Protocol version the reply is sealed for. */
  version: number;
  /** Request id the sealer answers. */
  requestId: Uint8Array;
  /** The 32-byte reply key. */
  key: Uint8Array;
}

/** One opened datagram: the `OpenResult` without its sealer, and the sealer's parts. */
export interface WorkerResult {
  /** The result, `replier` removed (every other field passes through structured clone). */
  result: Omit<OpenResult, "replier"> | { ok: false; reason: "internal" };
  /** Set when the result had a `replier`. */
  sealer?: SealerParts;
}

/** Worker → main: one result per datagram of the batch, in order. */
export interface ResultsMessage {
  /** Discriminator. */
  t: "results";
  /** Results. */
  results: WorkerResult[];
  /** X25519 operations this worker did since its previous results message (`status` sums them). */
  x25519: number;
}

/** Worker → main: the module loaded and listens. */
export interface ReadyMessage {
  /** Discriminator. */
  t: "ready";
}

interface Server {
  opener: RequestOpener;
}

/** Opens batches against the keys of the last {@linkcode KeysMessage}. */
export class BatchOpener {
  #servers = new Map<string, Server>();
  #users = new Map<number, UserVerifier>();
  #now = 0;
  /** `x25519Stats.operations` of this thread when the last results were built. */
  #reported = x25519Stats.operations;
  readonly #lookup = (id: number): UserVerifier | undefined => this.#users.get(id);

  /** Swaps servers and users whole. A server whose keys do not build is left out. */
  setKeys(m: KeysMessage): void {
    const servers = new Map<string, Server>();
    for (const s of m.servers) {
      try {
        const opts = {
          x25519Private: s.x25519Private,
          x25519Public: s.x25519Public,
          insecure: s.insecure,
          skewMs: s.skewMs,
          clock: () => this.#now,
        };
        servers.set(s.name, {
          opener: s.previous ? new KeyRing(opts, s.previous) : new RequestOpener(opts),
        });
      } catch {
        // The pool checks keys before sending them; nothing to open with here.
      }
    }
    const users = new Map<number, UserVerifier>();
    for (const u of m.users) {
      users.set(u.id, {
        hmacKey: u.hmacKey,
        ed25519Public: u.ed25519Public,
        previousHmacKey: u.previousHmacKey,
      });
    }
    this.#servers = servers;
    this.#users = users;
  }

  /** Opens every datagram of the batch. */
  openBatch(m: BatchMessage): ResultsMessage {
    this.#now = m.now;
    const results: WorkerResult[] = [];
    let at = 0;
    for (let i = 0; i < m.lengths.length; i++) {
      const d = m.data.subarray(at, at += m.lengths[i]);
      const server = this.#servers.get(m.servers[i]);
      results.push(
        server === undefined ? { result: { ok: false, reason: "internal" } } : this.#one(server, d),
      );
    }
    const ops = x25519Stats.operations;
    const x25519 = ops - this.#reported;
    this.#reported = ops;
    return { t: "results", results, x25519 };
  }

  #one(server: Server, d: Uint8Array): WorkerResult {
    const r = server.opener.open(d, this.#lookup);
    if (r.replier === undefined) return { result: r };
    const { replier, ...rest } = r;
    return { result: rest as Omit<OpenResult, "replier">, sealer: sealerParts(replier) };
  }
}

/** The parts a sealer is rebuilt from on the main thread (its key crosses once). */
function sealerParts(replier: ReplySealer): SealerParts {
  return { version: replier.version, requestId: replier.requestId, key: replier.exportKey() };
}

/** Installs the message handler on the worker's global scope. */
export function serveBatches(scope: {
  onmessage: ((e: MessageEvent<KeysMessage | BatchMessage>) => void) | null;
  postMessage(m: ResultsMessage | ReadyMessage): void;
}): BatchOpener {
  const opener = new BatchOpener();
  scope.onmessage = (e) => {
    const m = e.data;
    if (m.t === "keys") opener.setKeys(m);
    else scope.postMessage(opener.openBatch(m));
  };
  scope.postMessage({ t: "ready" });
  return opener;
}

// deno-lint-ignore no-explicit-any
if (import.meta.main) serveBatches(self as any);

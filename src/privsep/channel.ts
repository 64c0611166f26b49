/**
 * The channel between the network part and the privileged part: newline-delimited JSON
 * over a pipe pair, one request per line, answered by id. Hard limits: a frame is at most
 * `maxFrame` bytes (longer input closes the channel), at most `maxPending` calls wait.
 * Bytes travel as base64 strings; nothing in a frame is ever evaluated.
 * @module
 */

/** A request frame. */
interface RequestFrame {
  id: number;
  op: string;
  args: unknown;
}

/** A response frame. */
interface ResponseFrame {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/**
 * Serves requests on the privileged side. `emit` sends an event about this call (e.g. output
 * as it is read) before its answer; the caller's `onEvent` gets it.
 */
export type RpcHandler = (
  op: string,
  args: unknown,
  emit: (event: unknown) => void,
) => Promise<unknown>;

/** An event frame: something about a call in progress, before its response. */
interface EventFrame {
  id: number;
  ev: unknown;
}

/** Options of {@linkcode RpcChannel}. */
export interface RpcChannelOptions {
  /** Serves incoming requests (the privileged side); absent on a pure caller. */
  handler?: RpcHandler;
  /** Longest frame in bytes (default 32 MiB: exec output up to 16 MiB, base64). */
  maxFrame?: number;
  /** Most calls waiting for an answer (default 4096). */
  maxPending?: number;
}

/** Thrown by {@linkcode RpcChannel.call} when the other side refused or the channel closed. */
export class RpcError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "RpcError";
  }
}

const NEWLINE = 0x0a;

/** One end of the channel. */
export class RpcChannel {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #handler?: RpcHandler;
  readonly #maxFrame: number;
  readonly #maxPending: number;
  readonly #pending = new Map<number, PromiseWithResolvers<unknown>>();
  readonly #listeners = new Map<number, (event: unknown) => void>();
  readonly #encoder = new TextEncoder();
  #nextId = 1;
  #closed = false;
  /** Resolves when the reading side ended (the other process is gone). */
  readonly done: Promise<void>;

  /** Creates an end over a readable and a writable byte stream. */
  constructor(
    readable: ReadableStream<Uint8Array>,
    writable: WritableStream<Uint8Array>,
    opts: RpcChannelOptions = {},
  ) {
    this.#writer = writable.getWriter();
    this.#handler = opts.handler;
    this.#maxFrame = opts.maxFrame ?? 32 * 1024 * 1024;
    this.#maxPending = opts.maxPending ?? 4096;
    this.done = this.#read(readable).finally(() => this.#fail("channel closed"));
  }

  /**
   * Calls `op` on the other side; resolves with its result, rejects with an RpcError.
   * `onEvent` gets the call's events (they arrive before its result; untrusted input).
   */
  call(op: string, args: unknown = {}, onEvent?: (event: unknown) => void): Promise<unknown> {
    if (this.#closed) return Promise.reject(new RpcError("channel closed"));
    if (this.#pending.size >= this.#maxPending) {
      return Promise.reject(new RpcError("too many calls pending"));
    }
    const id = this.#nextId++;
    const waiter = Promise.withResolvers<unknown>();
    this.#pending.set(id, waiter);
    if (onEvent) this.#listeners.set(id, onEvent);
    this.#send({ id, op, args } satisfies RequestFrame).catch((err) => {
      this.#pending.delete(id);
      this.#listeners.delete(id);
      waiter.reject(new RpcError(`send failed: ${err}`));
    });
    return waiter.promise;
  }

  /** Closes the writing side; pending calls fail. */
  async close(): Promise<void> {
    this.#fail("channel closed");
    await this.#writer.close().catch(() => {});
  }

  #fail(reason: string): void {
    this.#closed = true;
    for (const w of this.#pending.values()) w.reject(new RpcError(reason));
    this.#pending.clear();
    this.#listeners.clear();
  }

  async #send(frame: RequestFrame | ResponseFrame | EventFrame): Promise<void> {
    const line = this.#encoder.encode(JSON.stringify(frame) + "\n");
    if (line.length > this.#maxFrame) throw new RpcError("frame too large");
    await this.#writer.write(line);
  }

  async #read(readable: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let parts: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of readable) {
      let start = 0;
      for (let i = 0; i < chunk.length; i++) {
        if (chunk[i] !== NEWLINE) continue;
        parts.push(chunk.subarray(start, i));
        size += i - start;
        const line = new Uint8Array(size);
        let at = 0;
        for (const p of parts) line.set(p, at), at += p.length;
        parts = [];
        size = 0;
        start = i + 1;
        this.#frame(decoder.decode(line));
      }
      if (start < chunk.length) {
        parts.push(chunk.slice(start));
        size += chunk.length - start;
        if (size > this.#maxFrame) throw new RpcError("frame too large");
      }
    }
  }

  #frame(text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof frame !== "object" || frame === null) return;
    const f = frame as Record<string, unknown>;
    if (typeof f.id !== "number") return;
    if (typeof f.op === "string") {
      this.#serve(f.id, f.op, f.args);
      return;
    }
    if ("ev" in f) {
      const listener = this.#listeners.get(f.id);
      try {
        listener?.(f.ev);
      } catch {
        // a listener's failure is its own
      }
      return;
    }
    const waiter = this.#pending.get(f.id);
    if (!waiter) return;
    this.#pending.delete(f.id);
    this.#listeners.delete(f.id);
    if (f.ok === true) waiter.resolve(f.result);
    else waiter.reject(new RpcError(typeof f.error === "string" ? f.error : "refused"));
  }

  #serve(id: number, op: string, args: unknown): void {
    const handler = this.#handler;
    const emit = (ev: unknown) => {
      this.#send({ id, ev } satisfies EventFrame).catch(() => {});
    };
    const answer = handler
      ? handler(op, args, emit).then(
        (result) => ({ id, ok: true, result }),
        (err) => ({ id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      )
      : Promise.resolve({ id, ok: false, error: "this side serves nothing" });
    answer.then((frame) => this.#send(frame)).catch(() => {});
  }
}

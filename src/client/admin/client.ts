/**
 * The client side of the control socket: connect, send requests, receive responses and
 * streamed events. Used by `siglatch admin` (one-shot and the shell) and by tests.
 * @module
 */
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../../config/load.ts";
import type { AdminResponse, LogEntry } from "../../admin/protocol.ts";

/** The socket path when neither a flag nor a config names one. */
export const DEFAULT_SOCKET_PATH = "/run/siglatch/admin.sock";

const encoder = new TextEncoder();

/**
 * Finds the control socket: `--socket`, else `admin.socket` of `--config` (or of the
 * default config when it exists), else {@linkcode DEFAULT_SOCKET_PATH}. A config with
 * errors still yields its socket (read from the raw YAML), so a broken config never locks
 * the operator out of the running daemon.
 */
export async function resolveSocketPath(
  opts: { socket?: string; config?: string },
): Promise<string> {
  if (opts.socket) return resolve(opts.socket);
  const config = opts.config ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = await Deno.readTextFile(config);
  } catch (err) {
    if (opts.config) {
      throw new Error(`cannot read ${config}: ${err instanceof Error ? err.message : err}`);
    }
    return DEFAULT_SOCKET_PATH;
  }
  const loaded = await loadConfig(config, { lint: false });
  if (loaded.ok) return loaded.config.admin.socket;
  try {
    const raw = parseYaml(text) as { admin?: { socket?: unknown } } | null;
    const s = raw?.admin?.socket;
    if (typeof s === "string" && s !== "") return resolve(dirname(resolve(config)), s);
  } catch {
    // unparsable: fall through to the default
  }
  return DEFAULT_SOCKET_PATH;
}

interface Pending {
  resolve: (r: AdminResponse) => void;
  reject: (e: Error) => void;
}

/** A connection to the control socket. */
export class AdminClient {
  readonly #conn: Deno.UnixConn;
  readonly #pending = new Map<number | string, Pending>();
  readonly #followers = new Map<number | string, (e: LogEntry) => void>();
  readonly #done: Promise<void>;
  #nextId = 1;
  #closed = false;
  #closeError: Error | undefined;

  private constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
    this.#done = this.#read();
  }

  /** Connects to `path`; the error says what to check when it fails. */
  static async connect(path: string): Promise<AdminClient> {
    try {
      return new AdminClient(await Deno.connect({ transport: "unix", path }));
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound
        ? "no such socket: is the daemon running, and is this its admin.socket?"
        : err instanceof Deno.errors.PermissionDenied
        ? "permission denied: only root and the daemon's user may use the admin socket"
        : err instanceof Deno.errors.ConnectionRefused
        ? "connection refused: the daemon is not running (stale socket file)"
        : err instanceof Error
        ? err.message
        : String(err);
      throw new Error(`cannot connect to ${path}: ${why}`);
    }
  }

  /** True once the connection is closed (by either side). */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Resolves when the server closes the connection (or it is closed here). */
  get closed(): Promise<void> {
    return this.#done;
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let text = "";
    try {
      for await (const chunk of this.#conn.readable) {
        text += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = text.indexOf("\n")) >= 0) {
          const line = text.slice(0, nl);
          text = text.slice(nl + 1);
          if (line.trim() !== "") this.#dispatch(line);
        }
      }
    } catch (err) {
      this.#closeError ??= err instanceof Error ? err : new Error(String(err));
    } finally {
      this.#closed = true;
      const err = this.#closeError ?? new Error("the daemon closed the admin connection");
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    }
  }

  #dispatch(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    const id = msg.id as number | string | null;
    if ("event" in msg) {
      if (id !== null) this.#followers.get(id)?.(msg.event as LogEntry);
      return;
    }
    if (id === null || id === undefined) {
      // A connection-level error (too many connections, idle timeout, bad line).
      const err = new Error(String(msg.error ?? "protocol error"));
      this.#closeError = err;
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      return;
    }
    const p = this.#pending.get(id);
    if (p) {
      this.#pending.delete(id);
      p.resolve(msg as unknown as AdminResponse);
    }
  }

  /** Sends one request and waits for its response (rejects on timeout or disconnect). */
  async request(
    cmd: string,
    args: Record<string, unknown> = {},
    timeoutMs = 30_000,
  ): Promise<AdminResponse> {
    if (this.#closed) throw this.#closeError ?? new Error("the admin connection is closed");
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<AdminResponse>();
    this.#pending.set(id, { resolve, reject });
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      reject(new Error(`no answer to ${cmd} within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      await this.#conn.write(encoder.encode(JSON.stringify({ id, cmd, args }) + "\n"));
      return await promise;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Starts `logs --follow`: `onEvent` gets every log entry until the connection closes.
   * Resolves once the daemon accepted the request.
   */
  async follow(args: Record<string, unknown>, onEvent: (e: LogEntry) => void): Promise<void> {
    const id = this.#nextId;
    this.#followers.set(id, onEvent);
    const res = await this.request("logs", { ...args, follow: true });
    if (!res.ok) {
      this.#followers.delete(id);
      throw new Error(res.error);
    }
  }

  /** Closes the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

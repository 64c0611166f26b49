/**
 * The control socket: a Unix socket speaking JSON lines (docs/ADMIN.md), bounded in
 * connections, line size and idle time.
 *
 * Access control: the socket file is created mode 0600 inside a private (0700) temporary
 * directory and renamed into place, so there is no moment when another user could
 * connect; only its owner (the daemon's user) and root can connect to it. Deno exposes no
 * `SO_PEERCRED`, so the peer's uid is not checked again per connection: the file mode is
 * the access check.
 * @module
 */
import { dirname, resolve } from "node:path";
import { type AdminControl, CommandError } from "./control.ts";
import { COMMAND_NAMES } from "./protocol.ts";
import { bindDir, bindPath } from "./socket_path.ts";

/** Options of {@linkcode ControlServer.start}. */
export interface ControlServerOptions {
  /** Socket path (made absolute). */
  path: string;
  /** Most concurrent connections (default 16). */
  maxConnections?: number;
  /** Longest request line in bytes (default 64 KiB). */
  maxLineBytes?: number;
  /** Close a connection idle this long, unless it follows logs (default 5 minutes). */
  idleTimeoutMs?: number;
  /** Bytes of events queued for a slow follower before events are dropped (default 1 MiB). */
  maxQueuedBytes?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Longest path a Unix socket address holds (sun_path minus the NUL). */
const MAX_SUN_PATH = 107;

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

async function exists(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Binds `path` mode 0600 without a window where it is more open; removes a stale socket. */
async function bindPrivate(path: string): Promise<Deno.UnixListener> {
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const old = await exists(path);
  if (old) {
    if (!old.isSocket) {
      throw new Error(`${path} exists and is not a socket: refusing to replace it`);
    }
    let live = false;
    try {
      const c = await Deno.connect({ transport: "unix", path });
      c.close();
      live = true;
    } catch {
      // nobody listening: stale
    }
    if (live) throw new Error(`${path}: another daemon is listening on this admin socket`);
    await Deno.remove(path);
  }
  // A fixed name (see socket_path.ts), made fresh: whatever is there (a stale one of ours,
  // or something planted) is removed first, and mkdir fails if it reappears meanwhile.
  const tmpDir = bindDir(path);
  const tmpPath = bindPath(path);
  await Deno.remove(tmpDir, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  await Deno.mkdir(tmpDir, { mode: 0o700 });
  try {
    if (encoder.encode(tmpPath).length > MAX_SUN_PATH) {
      // The private directory makes the path too long: bind in place, then restrict.
      const l = Deno.listen({ transport: "unix", path });
      await Deno.chmod(path, 0o600);
      return l;
    }
    await Deno.chmod(tmpDir, 0o700);
    const listener = Deno.listen({ transport: "unix", path: tmpPath });
    await Deno.chmod(tmpPath, 0o600);
    await Deno.rename(tmpPath, path);
    return listener;
  } finally {
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  }
}

/** One client connection. */
class Connection {
  readonly #conn: Deno.UnixConn;
  readonly #server: ControlServer;
  readonly #control: AdminControl;
  readonly #opts: Required<Omit<ControlServerOptions, "path">>;
  #writing: Promise<void> = Promise.resolve();
  #queued = 0;
  #dropped = 0;
  #closed = false;
  #busy = false;
  #following = 0;
  #idle: ReturnType<typeof setTimeout> | undefined;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(
    conn: Deno.UnixConn,
    server: ControlServer,
    control: AdminControl,
    opts: Required<Omit<ControlServerOptions, "path">>,
  ) {
    this.#conn = conn;
    this.#server = server;
    this.#control = control;
    this.#opts = opts;
  }

  #armIdle(): void {
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      if (this.#following > 0 || this.#busy) return this.#armIdle();
      this.send({ id: null, ok: false, error: "idle timeout: closing" });
      this.#writing.finally(() => this.close());
    }, this.#opts.idleTimeoutMs);
  }

  /** Queues a line; events beyond the queue limit are dropped and counted. */
  send(obj: unknown, isEvent = false): void {
    if (this.#closed) return;
    const bytes = encoder.encode(JSON.stringify(obj) + "\n");
    if (isEvent && this.#queued + bytes.length > this.#opts.maxQueuedBytes) {
      this.#dropped++;
      return;
    }
    this.#queued += bytes.length;
    this.#writing = this.#writing.then(async () => {
      if (this.#closed) return;
      try {
        await writeAll(this.#conn, bytes);
      } catch {
        this.close();
      } finally {
        this.#queued -= bytes.length;
      }
    });
  }

  /** Reads request lines until the client closes (or breaks a limit). */
  async serve(): Promise<void> {
    this.#armIdle();
    const buf = new Uint8Array(16 * 1024);
    let pending = new Uint8Array(0);
    try {
      while (!this.#closed) {
        let n: number | null;
        try {
          n = await this.#conn.read(buf);
        } catch {
          break;
        }
        if (n === null) break;
        this.#armIdle();
        const joined = new Uint8Array(pending.length + n);
        joined.set(pending);
        joined.set(buf.subarray(0, n), pending.length);
        let start = 0;
        for (let nl = joined.indexOf(10, start); nl >= 0; nl = joined.indexOf(10, start)) {
          const line = decoder.decode(joined.subarray(start, nl)).trim();
          start = nl + 1;
          if (line === "") continue;
          this.#busy = true;
          try {
            await this.#handle(line);
          } finally {
            this.#busy = false;
          }
        }
        pending = joined.slice(start);
        if (pending.length > this.#opts.maxLineBytes) {
          this.send({
            id: null,
            ok: false,
            error: `request line longer than ${this.#opts.maxLineBytes} bytes: closing`,
          });
          break;
        }
      }
    } finally {
      await this.#writing;
      this.close();
    }
  }

  async #handle(line: string): Promise<void> {
    if (line.length > this.#opts.maxLineBytes) {
      this.send({ id: null, ok: false, error: `request longer than ${this.#opts.maxLineBytes}` });
      return;
    }
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      this.send({
        id: null,
        ok: false,
        error: 'bad request: not JSON (expected {"id":1,"cmd":"status","args":{}})',
      });
      return;
    }
    const r = (typeof req === "object" && req !== null && !Array.isArray(req))
      ? req as Record<string, unknown>
      : {};
    const id = typeof r.id === "number" || typeof r.id === "string" ? r.id : null;
    if (typeof r.cmd !== "string") {
      this.send({
        id,
        ok: false,
        error: `bad request: "cmd" must be one of ${COMMAND_NAMES.join(", ")}`,
      });
      return;
    }
    const args = typeof r.args === "object" && r.args !== null && !Array.isArray(r.args)
      ? r.args as Record<string, unknown>
      : {};
    if (r.cmd === "logs" && args.follow === true) return this.#follow(id ?? 0, args);
    try {
      const result = await this.#control.run(r.cmd, args);
      this.send({ id, ok: true, result });
    } catch (err) {
      const message = err instanceof CommandError
        ? err.message
        : `internal error: ${err instanceof Error ? err.message : String(err)}`;
      this.send({ id, ok: false, error: message });
    }
  }

  #follow(id: number | string, args: Record<string, unknown>): void {
    const decisions = args.decisions === true;
    const lines = typeof args.lines === "number" ? Math.min(args.lines, 500) : 0;
    this.send({ id, ok: true, result: { follow: true } });
    for (const event of this.#control.recentLogs(lines, decisions)) this.send({ id, event }, true);
    this.#following++;
    this.#unsubscribe.push(this.#control.follow((event) => {
      if (decisions && typeof event.properties.decision !== "string") return;
      if (this.#dropped > 0 && this.#queued === 0) {
        const n = this.#dropped;
        this.#dropped = 0;
        this.send({
          id,
          event: {
            time: new Date().toISOString(),
            level: "warning",
            category: "siglatch.admin",
            message: `${n} log events dropped: the client reads too slowly`,
            properties: { dropped: n },
          },
        }, true);
      }
      this.send({ id, event }, true);
    }));
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    for (const u of this.#unsubscribe) u();
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#server.forget(this);
  }
}

/** The running control socket. */
export class ControlServer {
  readonly #listener: Deno.UnixListener;
  readonly #control: AdminControl;
  readonly #opts: Required<Omit<ControlServerOptions, "path">>;
  readonly #conns = new Set<Connection>();
  readonly #ino: number | null;
  readonly #accepting: Promise<void>;
  #stopped = false;
  /** Absolute socket path. */
  readonly path: string;

  private constructor(
    path: string,
    listener: Deno.UnixListener,
    ino: number | null,
    control: AdminControl,
    opts: Required<Omit<ControlServerOptions, "path">>,
  ) {
    this.path = path;
    this.#listener = listener;
    this.#ino = ino;
    this.#control = control;
    this.#opts = opts;
    this.#accepting = this.#accept();
  }

  /** Binds the socket (mode 0600, stale file removed) and starts serving `control`. */
  static async start(control: AdminControl, opts: ControlServerOptions): Promise<ControlServer> {
    const path = resolve(opts.path);
    const listener = await bindPrivate(path);
    const ino = (await Deno.stat(path)).ino;
    return new ControlServer(path, listener, ino, control, {
      maxConnections: opts.maxConnections ?? 16,
      maxLineBytes: opts.maxLineBytes ?? 64 * 1024,
      idleTimeoutMs: opts.idleTimeoutMs ?? 300_000,
      maxQueuedBytes: opts.maxQueuedBytes ?? 1024 * 1024,
    });
  }

  /** Open connections. */
  get connections(): number {
    return this.#conns.size;
  }

  async #accept(): Promise<void> {
    while (!this.#stopped) {
      let conn: Deno.UnixConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        if (this.#stopped) return;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (this.#conns.size >= this.#opts.maxConnections) {
        const msg = {
          id: null,
          ok: false,
          error: `too many admin connections (at most ${this.#opts.maxConnections})`,
        };
        writeAll(conn, encoder.encode(JSON.stringify(msg) + "\n"))
          .catch(() => {})
          .finally(() => {
            try {
              conn.close();
            } catch {
              // gone
            }
          });
        continue;
      }
      const c = new Connection(conn, this, this.#control, this.#opts);
      this.#conns.add(c);
      c.serve().catch(() => c.close());
    }
  }

  /** Drops a closed connection (called by the connection). */
  forget(c: Connection): void {
    this.#conns.delete(c);
  }

  /** Stops accepting, closes every connection and removes the socket file. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      this.#listener.close();
    } catch {
      // closed
    }
    for (const c of [...this.#conns]) c.close();
    await this.#accepting.catch(() => {});
    const now = await exists(this.path).catch(() => undefined);
    if (now?.isSocket && (this.#ino === null || now.ino === this.#ino)) {
      await Deno.remove(this.path).catch(() => {});
    }
  }
}

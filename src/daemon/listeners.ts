/**
 * Listeners: the UDP sockets, their receive loops and kernel buffers. Each datagram goes
 * to one callback with the server it arrived for and a reply channel over its socket.
 * @module
 */
import { logger } from "../util/log.ts";
import type { ServerConfig } from "../config/schema.ts";
import { UdpSocketHandle } from "../net/sockopt.ts";
import type { ReplyChannel } from "./replies.ts";

/** Receive buffer per loop: larger than any datagram we accept, so oversize ones show as such. */
const RECEIVE_BUFFER_BYTES = 2048;
/** Concurrent receive calls per socket. */
const RECEIVE_LOOPS = 4;
/** Why a privilege-separated network part leaves socket options alone. */
const NO_SOCKET_OPTIONS = "the network part runs without FFI (privilege separation); " +
  "raise net.core.rmem_default for a larger buffer";

/** One listening socket as `status` shows it. */
export interface ListenerStatus {
  /** `host:port`. */
  address: string;
  /** The server it serves. */
  server: string;
  /** Receive buffer bytes as the kernel accounts them (twice `limits.recv_buffer`). */
  receive_buffer_bytes?: number;
  /** Bytes of datagrams waiting to be read. */
  queued_bytes?: number;
  /** Datagrams the kernel dropped because the buffer was full, since the socket opened. */
  kernel_drops?: number;
  /** Why the kernel figures are missing. */
  socket_info_unavailable?: string;
}

/** Called for every datagram received. `data` is only valid during the call. */
export type DatagramHandler = (
  server: string,
  data: Uint8Array,
  from: Deno.NetAddr,
  channel: ReplyChannel,
) => void;

/** A bound UDP socket and the server it serves. */
class Listener implements ReplyChannel {
  closed = false;
  /** The `limits.recv_buffer` last applied (to re-apply only on change). */
  recvBuffer?: number;
  /** The kernel socket behind `conn`, or why it could not be found. */
  readonly socket: UdpSocketHandle | string;

  constructor(
    readonly key: string,
    public server: string,
    readonly conn: Deno.DatagramConn,
    readonly count: (name: string) => void,
    socketOptions: boolean,
  ) {
    this.socket = socketOptions
      ? UdpSocketHandle.find(conn.addr as Deno.NetAddr)
      : NO_SOCKET_OPTIONS;
  }

  send(datagram: Uint8Array, to: Deno.NetAddr): void {
    this.conn.send(datagram, to).then(
      () => this.count("replies"),
      () => this.count("reply_errors"),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

/** The set of listening sockets, kept in line with the config by {@linkcode Listeners.sync}. */
export class Listeners {
  readonly #byKey = new Map<string, Listener>();
  readonly #onDatagram: DatagramHandler;
  readonly #count: (name: string) => void;
  readonly #log = logger("daemon");

  readonly #socketOptions: boolean;

  /**
   * Creates an empty set; `onDatagram` gets every datagram. `socketOptions: false` leaves
   * the kernel buffers alone (no FFI: the privilege-separated network part).
   */
  constructor(onDatagram: DatagramHandler, count: (name: string) => void, socketOptions = true) {
    this.#onDatagram = onDatagram;
    this.#count = count;
    this.#socketOptions = socketOptions;
  }

  /**
   * Opens a socket for every listen address of every enabled server that has none yet and
   * closes the ones no longer configured. Throws (naming the address) when one cannot be
   * opened; sockets opened by this call are closed again.
   */
  sync(servers: readonly ServerConfig[]): void {
    const wanted = new Map<string, ServerConfig>();
    for (const s of servers) {
      if (!s.enabled) continue;
      for (const l of s.listen) {
        wanted.set(`${l.family === 6 ? `[${l.host}]` : l.host}:${l.port}`, s);
      }
    }
    const opened: Listener[] = [];
    for (const [key, server] of wanted) {
      const existing = this.#byKey.get(key);
      if (existing) {
        existing.server = server.name;
        this.#applyReceiveBuffer(existing, server);
        continue;
      }
      const { host, port } = splitKey(key);
      let conn: Deno.DatagramConn;
      try {
        conn = Deno.listenDatagram({ transport: "udp", hostname: host, port });
      } catch (err) {
        for (const l of opened) this.#close(l);
        const why = err instanceof Deno.errors.AddrInUse
          ? "address already in use (another siglatchd, or another program, holds it)"
          : err instanceof Error
          ? err.message
          : String(err);
        throw new Error(`cannot listen on udp ${key} for server ${server.name}: ${why}`);
      }
      const listener = new Listener(key, server.name, conn, this.#count, this.#socketOptions);
      opened.push(listener);
      this.#byKey.set(key, listener);
      this.#log.info("listening on udp {key} for server {server}", { key, server: server.name });
      this.#applyReceiveBuffer(listener, server);
      // Several receives in flight keep the socket drained (measured: 1 loop ≈40k/s,
      // 4 loops ≈100k/s on loopback).
      for (let i = 0; i < RECEIVE_LOOPS; i++) this.#receiveLoop(listener);
    }
    for (const [key, l] of this.#byKey) {
      if (!wanted.has(key)) this.#close(l);
    }
  }

  /** The addresses listened on (`host:port`). */
  addresses(): string[] {
    return [...this.#byKey.keys()];
  }

  /** Every socket with the kernel's buffer size, queue and drop counter. */
  status(): ListenerStatus[] {
    return [...this.#byKey.values()].map((l) => {
      const base = { address: l.key, server: l.server };
      const info = typeof l.socket === "string" ? l.socket : l.socket.memInfo();
      if (typeof info === "string") return { ...base, socket_info_unavailable: info };
      return {
        ...base,
        receive_buffer_bytes: info.receiveBufferBytes,
        queued_bytes: info.queuedBytes,
        kernel_drops: info.drops,
      };
    });
  }

  /** Closes every socket. */
  closeAll(): void {
    for (const l of [...this.#byKey.values()]) this.#close(l);
  }

  #close(l: Listener): void {
    l.close();
    if (this.#byKey.get(l.key) === l) this.#byKey.delete(l.key);
  }

  /** Sets the socket's receive buffer to its server's `limits.recv_buffer` when it changed. */
  #applyReceiveBuffer(l: Listener, server: ServerConfig): void {
    const wanted = server.limits.recv_buffer;
    if (wanted === undefined || wanted === l.recvBuffer) return;
    l.recvBuffer = wanted;
    if (typeof l.socket === "string") {
      const level = l.socket === NO_SOCKET_OPTIONS ? "info" : "warn";
      this.#log[level]("receive buffer of udp {key} left at the system default: {why}", {
        key: l.key,
        why: l.socket,
      });
      return;
    }
    const result = l.socket.setReceiveBuffer(wanted);
    if (typeof result === "string") {
      this.#log.warn("receive buffer of udp {key} not set: {why}", { key: l.key, why: result });
    } else if (result.capped) {
      this.#log.warn(
        "receive buffer of udp {key}: asked {asked} bytes, the kernel allows {effective} " +
          "(raise net.core.rmem_max or give the daemon CAP_NET_ADMIN)",
        { key: l.key, asked: wanted, effective: result.effective },
      );
    } else {
      this.#log.info("receive buffer of udp {key}: {asked} bytes (the kernel books {effective})", {
        key: l.key,
        asked: wanted,
        effective: result.effective,
      });
    }
  }

  async #receiveLoop(l: Listener): Promise<void> {
    // One buffer per loop: without it Deno allocates 64 KiB per datagram, and under a
    // flood the garbage collector, not the pipeline, sets the pace (measured: a bare
    // receiver drained 21k/s without and 76k/s with a reused buffer). The pipeline copies
    // the datagram out only once its source passed the gate.
    const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
    while (!l.closed) {
      let data: Uint8Array, addr: Deno.Addr;
      try {
        [data, addr] = await l.conn.receive(buffer);
      } catch (err) {
        if (l.closed) return;
        this.#count("receive_errors");
        this.#log.warn("receive error on {key}: {err}", { key: l.key, err: String(err) });
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      try {
        this.#onDatagram(l.server, data, addr as Deno.NetAddr, l);
      } catch (err) {
        this.#count("handler_errors");
        this.#log.error("internal error handling a datagram: {err}", {
          err: err instanceof Error ? err.stack : String(err),
        });
      }
    }
  }
}

function splitKey(key: string): { host: string; port: number } {
  const i = key.lastIndexOf(":");
  let host = key.slice(0, i);
  if (host.startsWith("[")) host = host.slice(1, -1);
  return { host, port: Number(key.slice(i + 1)) };
}

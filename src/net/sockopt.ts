/**
 * Socket options Deno's `listenDatagram` does not offer, set through libc with FFI (Linux):
 * the receive buffer size (`SO_RCVBUF`, or `SO_RCVBUFFORCE` when the process may exceed
 * `net.core.rmem_max`) and the kernel's per-socket counters (`SO_MEMINFO`: bytes queued,
 * buffer size, datagrams dropped).
 *
 * Deno hides file descriptors, so the socket is found by asking `getsockname` of each
 * descriptor (at most {@linkcode MAX_FD_SCAN}) for a UDP socket bound to the listener's
 * address and port. Needs `--allow-ffi=<libc path>` ({@linkcode libcPath}); without it every
 * call reports why it did nothing and the socket keeps the system default buffer.
 *
 * @example
 * ```ts
 * const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const socket = UdpSocketHandle.find(conn.addr as Deno.NetAddr);
 * if (typeof socket !== "string") socket.setReceiveBuffer(4 * 1024 * 1024);
 * ```
 * @module
 */
import { parseIp } from "../util/ip.ts";

const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SO_MEMINFO = 55;
const SOCK_DGRAM = 2;
const AF_INET = 2;
const AF_INET6 = 10;
/** Indexes into the `SO_MEMINFO` array (include/uapi/linux/sock_diag.h). */
const SK_MEMINFO_RMEM_ALLOC = 0;
const SK_MEMINFO_RCVBUF = 1;
const SK_MEMINFO_DROPS = 8;
const SK_MEMINFO_VARS = 9;

/** Highest file descriptor searched for a listener's socket. */
export const MAX_FD_SCAN = 4096;

/** Where libc lives on the Linux distributions we know, most likely first. */
export const LIBC_CANDIDATES: readonly string[] = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/usr/lib/libc.so.6",
  "/lib/libc.so.6",
];

const SYMBOLS = {
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let loaded: Libc | string | undefined;

/** The first libc of {@linkcode LIBC_CANDIDATES} that exists here (for `--allow-ffi`). */
export function libcPath(): string | undefined {
  if (Deno.build.os !== "linux") return undefined;
  for (const path of LIBC_CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here, or not readable: try the next
    }
  }
  return undefined;
}

/** Opens libc once; a string says why it cannot be used. */
function libc(): Libc | string {
  if (loaded !== undefined) return loaded;
  if (Deno.build.os !== "linux") {
    return loaded = `socket options need Linux (this is ${Deno.build.os})`;
  }
  let refused: string | undefined;
  for (const path of LIBC_CANDIDATES) {
    try {
      return loaded = Deno.dlopen(path, SYMBOLS).symbols;
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
        refused ??= `run with --allow-ffi=${path} to set socket options`;
      }
    }
  }
  return loaded = refused ?? `no libc found in ${LIBC_CANDIDATES.join(", ")}`;
}

function addressBytes(hostname: string): { family: 4 | 6; bytes: Uint8Array } | undefined {
  const ip = parseIp(hostname);
  if (!ip) return undefined;
  const size = ip.family === 4 ? 4 : 16;
  const bytes = new Uint8Array(size);
  let v = ip.value;
  for (let i = size - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return { family: ip.family, bytes };
}

/** What the kernel says about one socket. */
export interface SocketMemInfo {
  /** Bytes of datagrams queued, not yet read by the process. */
  queuedBytes: number;
  /** Receive buffer size in bytes as the kernel accounts it (twice the requested size). */
  receiveBufferBytes: number;
  /** Datagrams the kernel dropped for this socket since it was opened (buffer full). */
  drops: number;
}

/** The outcome of {@linkcode UdpSocketHandle.setReceiveBuffer}. */
export interface ReceiveBufferResult {
  /** Bytes asked for. */
  requested: number;
  /** `SO_RCVBUF` as the kernel reports it afterwards (Linux doubles the request). */
  effective: number;
  /** True when the kernel capped it (`net.core.rmem_max`, no `CAP_NET_ADMIN`). */
  capped: boolean;
}

/** The libc file descriptor behind one bound UDP socket of this process. */
export class UdpSocketHandle {
  readonly #libc: Libc;
  readonly #fd: number;
  readonly #family: 4 | 6;
  readonly #port: number;
  readonly #address: Uint8Array;

  private constructor(lib: Libc, fd: number, family: 4 | 6, port: number, address: Uint8Array) {
    this.#libc = lib;
    this.#fd = fd;
    this.#family = family;
    this.#port = port;
    this.#address = address;
  }

  /** Finds the socket bound to `addr` (UDP); a string says why it cannot. */
  static find(addr: Deno.NetAddr): UdpSocketHandle | string {
    const lib = libc();
    if (typeof lib === "string") return lib;
    const want = addressBytes(addr.hostname);
    if (!want) return `not an IP address: ${addr.hostname}`;
    for (let fd = 0; fd < MAX_FD_SCAN; fd++) {
      const h = new UdpSocketHandle(lib, fd, want.family, addr.port, want.bytes);
      if (h.#matches()) return h;
    }
    return `no UDP socket bound to ${addr.hostname}:${addr.port} among the first ${MAX_FD_SCAN} descriptors`;
  }

  /** The file descriptor. */
  get fd(): number {
    return this.#fd;
  }

  /** True while the descriptor is still a UDP socket bound to the same address and port. */
  #matches(): boolean {
    const sa = new Uint8Array(128);
    const len = new Uint32Array([sa.length]);
    if (this.#libc.getsockname(this.#fd, sa, new Uint8Array(len.buffer)) !== 0) return false;
    const view = new DataView(sa.buffer);
    const af = view.getUint16(0, true);
    const family = af === AF_INET ? 4 : af === AF_INET6 ? 6 : 0;
    if (family !== this.#family || view.getUint16(2, false) !== this.#port) return false;
    const at = family === 4 ? 4 : 8; // sin_addr / sin6_addr offsets
    if (len[0] < at + this.#address.length) return false;
    for (let i = 0; i < this.#address.length; i++) {
      if (sa[at + i] !== this.#address[i]) return false;
    }
    return this.#getInt(SO_TYPE) === SOCK_DGRAM;
  }

  #getInt(option: number): number | undefined {
    const value = new Int32Array(1);
    const len = new Uint32Array([4]);
    const rc = this.#libc.getsockopt(
      this.#fd,
      SOL_SOCKET,
      option,
      new Uint8Array(value.buffer),
      new Uint8Array(len.buffer),
    );
    return rc === 0 ? value[0] : undefined;
  }

  #setInt(option: number, value: number): boolean {
    const v = new Int32Array([value]);
    return this.#libc.setsockopt(this.#fd, SOL_SOCKET, option, new Uint8Array(v.buffer), 4) === 0;
  }

  /**
   * Sets the receive buffer to `bytes`: `SO_RCVBUFFORCE` first (root or `CAP_NET_ADMIN`
   * may exceed `net.core.rmem_max`), else `SO_RCVBUF` (capped by the kernel). Returns a
   * string when the socket is gone or the kernel refused both.
   */
  setReceiveBuffer(bytes: number): ReceiveBufferResult | string {
    if (!this.#matches()) return "the socket is closed or was replaced";
    const asked = Math.max(0, Math.min(Math.floor(bytes), 0x3fffffff));
    if (!this.#setInt(SO_RCVBUFFORCE, asked) && !this.#setInt(SO_RCVBUF, asked)) {
      return "the kernel refused SO_RCVBUF";
    }
    const effective = this.#getInt(SO_RCVBUF) ?? 0;
    return { requested: asked, effective, capped: effective < asked * 2 };
  }

  /** The kernel's counters for this socket, or a string saying why there are none. */
  memInfo(): SocketMemInfo | string {
    if (!this.#matches()) return "the socket is closed or was replaced";
    const values = new Uint32Array(SK_MEMINFO_VARS);
    const len = new Uint32Array([values.byteLength]);
    const rc = this.#libc.getsockopt(
      this.#fd,
      SOL_SOCKET,
      SO_MEMINFO,
      new Uint8Array(values.buffer),
      new Uint8Array(len.buffer),
    );
    if (rc !== 0 || len[0] < (SK_MEMINFO_DROPS + 1) * 4) return "the kernel has no SO_MEMINFO";
    return {
      queuedBytes: values[SK_MEMINFO_RMEM_ALLOC],
      receiveBufferBytes: values[SK_MEMINFO_RCVBUF],
      drops: values[SK_MEMINFO_DROPS],
    };
  }
}

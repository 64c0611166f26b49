/**
 * Kernel-side statistics of local UDP sockets, read from `/proc/net/udp` and
 * `/proc/net/udp6` (Linux). The `drops` column counts datagrams the kernel discarded for a
 * socket, mostly because its receive buffer was full: datagrams the daemon never saw.
 *
 * The daemon reads its own sockets' counters through `SO_MEMINFO` (`src/net/sockopt.ts`); this module reads any process's sockets (the benchmark's floor receiver).
 *
 * Deno 2.9 refuses to read `/proc` without `--allow-all`, even with `--allow-read=/proc`.
 * When a direct read is refused, the table is read through `/bin/cat` (then the process
 * needs `--allow-run=/bin/cat`); when both fail, no sockets are reported.
 * @module
 */

/** One UDP socket as the kernel reports it. */
export interface UdpSocketStats {
  /** Address family of the table the line came from. */
  family: 4 | 6;
  /** Local address as hex, as in the table (e.g. `0100007F` for 127.0.0.1). */
  localAddressHex: string;
  /** Local port. */
  port: number;
  /** Bytes queued for receiving (not yet read by the process). */
  rxQueue: number;
  /** Bytes queued for sending. */
  txQueue: number;
  /** Socket inode (identifies the socket across reads). */
  inode: number;
  /** Datagrams dropped by the kernel for this socket since it was created. */
  drops: number;
}

/**
 * Parses the text of `/proc/net/udp` or `/proc/net/udp6`, keeping sockets bound to local
 * `port` (all ports when `port` is undefined). Malformed lines are skipped.
 */
export function parseProcNetUdp(text: string, family: 4 | 6, port?: number): UdpSocketStats[] {
  const out: UdpSocketStats[] = [];
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    // sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops
    if (f.length < 13) continue;
    const [addr, portHex] = f[1].split(":");
    const p = parseInt(portHex, 16);
    if (!Number.isFinite(p) || (port !== undefined && p !== port)) continue;
    const [tx, rx] = f[4].split(":");
    const drops = Number(f[12]);
    if (!Number.isFinite(drops)) continue;
    out.push({
      family,
      localAddressHex: addr,
      port: p,
      txQueue: parseInt(tx, 16),
      rxQueue: parseInt(rx, 16),
      inode: Number(f[9]),
      drops,
    });
  }
  return out;
}

let direct = true;

/** Reads a /proc file directly, or through `/bin/cat` when Deno refuses the direct read. */
export async function readProcText(path: string): Promise<string> {
  if (direct) {
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied)) {
        return ""; // not Linux, or no IPv6: no sockets
      }
      direct = false;
    }
  }
  try {
    const out = await new Deno.Command("/bin/cat", {
      args: [path],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout) : "";
  } catch {
    return "";
  }
}

/** Every local UDP socket (IPv4 and IPv6) bound to `port`, with its kernel counters. */
export async function readUdpSockets(port: number): Promise<UdpSocketStats[]> {
  const [v4, v6] = await Promise.all([
    readProcText("/proc/net/udp"),
    readProcText("/proc/net/udp6"),
  ]);
  return [...parseProcNetUdp(v4, 4, port), ...parseProcNetUdp(v6, 6, port)];
}

/**
 * Kernel drops summed over every local UDP socket bound to `port` (0 when none is found or
 * `/proc` is unreadable). Counters are per socket since it was opened: a reopened socket
 * starts again at 0.
 */
export async function readUdpDrops(port: number): Promise<number> {
  let sum = 0;
  for (const s of await readUdpSockets(port)) sum += s.drops;
  return sum;
}

/**
 * {@linkcode readUdpDrops} for a socket inside network namespace `ns` (whose `/proc/net/udp`
 * only `ip netns exec NS cat` sees); 0 when unreadable.
 */
export async function readUdpDropsIn(ns: string, port: number): Promise<number> {
  try {
    const out = await new Deno.Command("ip", {
      args: ["netns", "exec", ns, "/bin/cat", "/proc/net/udp"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return 0;
    let sum = 0;
    for (const s of parseProcNetUdp(new TextDecoder().decode(out.stdout), 4, port)) sum += s.drops;
    return sum;
  } catch {
    return 0;
  }
}

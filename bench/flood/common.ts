/**
 * Shared pieces of the flood benchmark: the child-process protocol (a child prints
 * `ready` on stdout when prepared, waits for a line on stdin, runs, then prints one JSON
 * line with its result), process statistics from /proc, and percentiles.
 * @module
 */
import type { BlastReport } from "./blaster.ts";

/** Reads `--name value` pairs (and bare `--flag`s) from argv. */
export function parseFlags(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) continue;
    const next = args[i + 1];
    if (next === undefined || next.startsWith("--")) out.set(a.slice(2), "true");
    else {
      out.set(a.slice(2), next);
      i++;
    }
  }
  return out;
}

/** A required numeric flag. */
export function numFlag(flags: Map<string, string>, name: string, fallback?: number): number {
  const v = flags.get(name);
  if (v === undefined) {
    if (fallback === undefined) throw new Error(`--${name} is required`);
    return fallback;
  }
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name}: not a number: ${v}`);
  return n;
}

/** Prints `ready` and waits for the go line on stdin (the harness starts all children at once). */
export async function readyAndWait(): Promise<void> {
  console.log("ready");
  const reader = Deno.stdin.readable.getReader();
  try {
    await reader.read();
  } finally {
    reader.releaseLock();
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The value at quantile `q` (0..1) of ascending `sorted`; NaN when empty. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))];
}

/** CPU time and memory of a process, from /proc. */
export interface ProcSample {
  /** user + system CPU time in seconds. */
  cpuSeconds: number;
  /** Peak resident set size so far (VmHWM), bytes. */
  peakRssBytes: number;
  /** Current resident set size (VmRSS), bytes. */
  rssBytes: number;
  /** When sampled (performance.now ms). */
  at: number;
}

/** Clock ticks per second of /proc/PID/stat (USER_HZ; 100 on every Linux we run on). */
const CLK_TCK = 100;

/**
 * Samples /proc/PID/stat and /proc/PID/status; undefined when the process is gone. Read
 * through `/bin/cat`: Deno refuses direct /proc reads without `--allow-all`.
 */
export async function sampleProc(pid: number): Promise<ProcSample | undefined> {
  try {
    const at = performance.now();
    const out = await new Deno.Command("/bin/cat", {
      args: [`/proc/${pid}/stat`, `/proc/${pid}/status`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return undefined;
    const text = new TextDecoder().decode(out.stdout);
    const nl = text.indexOf("\n");
    const stat = text.slice(0, nl);
    const status = text.slice(nl + 1);
    // Fields after the parenthesised command name (which may contain spaces).
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const kb = (key: string): number => {
      const m = status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
      return m ? Number(m[1]) * 1024 : 0;
    };
    return {
      cpuSeconds: (utime + stime) / CLK_TCK,
      peakRssBytes: kb("VmHWM"),
      rssBytes: kb("VmRSS"),
      at,
    };
  } catch {
    return undefined;
  }
}

/**
 * Expands `127.0.0.2-127.0.0.254` or a comma list into addresses: loopback only, or also
 * the 10.213.0.0/16 veth addresses of the bench's own network namespaces with `netns`.
 */
export function expandAddresses(spec: string, netns = false): string[] {
  const out: string[] = [];
  for (const part of spec.split(",")) {
    const [a, b] = part.split("-");
    if (b === undefined) {
      out.push(a);
      continue;
    }
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    const from = ((pa[0] << 24) | (pa[1] << 16) | (pa[2] << 8) | pa[3]) >>> 0;
    const to = ((pb[0] << 24) | (pb[1] << 16) | (pb[2] << 8) | pb[3]) >>> 0;
    if (to < from || to - from > 65_536) throw new Error(`bad address range ${part}`);
    for (let v = from; v <= to; v++) {
      out.push(`${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`);
    }
  }
  for (const a of out) {
    if (a.startsWith("127.") || (netns && a.startsWith("10.213."))) continue;
    throw new Error(`senders stay on loopback (or the bench's 10.213/16 veth): ${a}`);
  }
  return out;
}

/**
 * A sender's report ({@linkcode BlastReport}): its counts, the run's length in seconds, and
 * p50/p99 of `latencies` (sorted here, in place).
 */
export function blastReport(
  counts: { sent: number; ok: number; lost: number },
  latencies: number[],
  elapsed: number,
  sealPerSecond: number,
): BlastReport {
  latencies.sort((a, b) => a - b);
  return {
    ...counts,
    seconds: elapsed,
    okPerSecond: counts.ok / elapsed,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    sealPerSecond,
  };
}

/**
 * Runs an `exec` action: explicit argv, cleared environment plus documented `SIGLATCH_*`
 * variables, optional uid/gid, payload on stdin, output captured up to a cap, and a timeout
 * that kills the whole process tree (SIGTERM to the process group, then SIGKILL).
 *
 * The child is started through `setsid` so it leads its own process group; killing the
 * negative pid reaches everything it forked, including backgrounded jobs. Where the machine
 * allows (`./contain.ts`), the run also gets its own cgroup or PID namespace, so a child
 * that left the group with `setsid` dies with it too.
 * @module
 */
import {
  type Containment,
  killCgroup,
  launch,
  machineContainment,
  makeRunCgroup,
  namespaceInit,
  removeCgroup,
} from "./contain.ts";

/** What to run. */
export interface ExecSpec {
  /** argv; argv[0] is an absolute path or a name found on the fixed PATH. */
  argv: string[];
  /** Environment (already built; nothing is inherited). */
  env: Record<string, string>;
  /** Bytes written to stdin, then closed. */
  stdin?: Uint8Array;
  /** uid to run as. */
  uid?: number;
  /** gid to run as. */
  gid?: number;
  /** Working directory. */
  cwd?: string;
  /** Kill after this many ms. */
  timeoutMs: number;
  /** Keep at most this many bytes of stdout and of stderr. */
  outputCap: number;
  /** Grace between SIGTERM and SIGKILL (ms). */
  killGraceMs?: number;
  /** Aborts the run early (daemon shutdown past its grace period). */
  signal?: AbortSignal;
  /** How to contain the tree (default: the strongest the machine offers, probed once). */
  containment?: Containment;
  /** Gets output as it is read (only what stays within `outputCap`): fd 1 stdout, 2 stderr. */
  onOutput?: (fd: 1 | 2, chunk: Uint8Array) => void;
}

/** How it went. */
export interface ExecResult {
  /** Exit code (-1 when killed by a signal or not started). */
  exitCode: number;
  /** Signal that ended it, if any. */
  signal?: string;
  /** Captured stdout (capped). */
  stdout: Uint8Array;
  /** Captured stderr (capped). */
  stderr: Uint8Array;
  /** True when output was cut at the cap. */
  truncated: boolean;
  /** True when the timeout fired. */
  timedOut: boolean;
  /** Wall time in ms. */
  durationMs: number;
  /** Set when the process could not be started. */
  spawnError?: string;
}

/** The PATH children get. */
export const CHILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async function capture(
  stream: ReadableStream<Uint8Array>,
  cap: number,
  onChunk?: (chunk: Uint8Array) => void,
): Promise<{ data: Uint8Array; truncated: boolean }> {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let truncated = false;
  for await (const chunk of stream) {
    if (kept < cap) {
      const take = Math.min(cap - kept, chunk.length);
      chunks.push(chunk.subarray(0, take));
      kept += take;
      if (onChunk && take > 0) {
        try {
          onChunk(chunk.subarray(0, take));
        } catch {
          // a listener's failure never stops the capture
        }
      }
      if (take < chunk.length) truncated = true;
    } else if (chunk.length > 0) {
      truncated = true; // keep draining so the child never blocks on a full pipe
    }
  }
  const data = new Uint8Array(kept);
  let off = 0;
  for (const c of chunks) {
    data.set(c, off);
    off += c.length;
  }
  return { data, truncated };
}

function killGroup(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(-pid, sig);
  } catch {
    // already gone
  }
}

function killPid(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Runs one command as specified; never throws. */
export async function runExec(spec: ExecSpec): Promise<ExecResult> {
  const started = performance.now();
  const machine = spec.containment === undefined ? await machineContainment() : undefined;
  let mode = spec.containment ?? machine!.mode;
  let cgroupDir: string | undefined;
  if (mode === "cgroup") {
    const parent = machine?.cgroupParent;
    cgroupDir = parent === undefined ? undefined : await makeRunCgroup(parent);
    if (cgroupDir === undefined) mode = "group";
  }
  const how = launch(mode, spec.argv, spec.uid, spec.gid, cgroupDir);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(how.cmd, {
      args: how.args,
      env: { PATH: CHILD_PATH, ...spec.env },
      clearEnv: true,
      cwd: spec.cwd ?? "/",
      uid: how.uid,
      gid: how.gid,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (cgroupDir !== undefined) await removeCgroup(cgroupDir);
    return {
      exitCode: -1,
      stdout: new Uint8Array(),
      stderr: new Uint8Array(),
      truncated: false,
      timedOut: false,
      durationMs: performance.now() - started,
      spawnError: err instanceof Error ? err.message : String(err),
    };
  }
  const pid = child.pid;
  const live = spec.onOutput;
  const stdoutP = capture(child.stdout, spec.outputCap, live && ((c) => live(1, c)));
  const stderrP = capture(child.stderr, spec.outputCap, live && ((c) => live(2, c)));
  (async () => {
    const writer = child.stdin.getWriter();
    try {
      if (spec.stdin && spec.stdin.length > 0) await writer.write(spec.stdin);
      await writer.close();
    } catch {
      // the child closed stdin early; that is its business
    }
  })();
  let timedOut = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  // pidns: the namespace's first process may have left the group (setsid); killing it kills
  // the whole namespace. Looked up before the first signal, while `unshare` is its parent.
  let init: number | undefined;
  const findInit = async () => {
    if (mode === "pidns") init ??= await namespaceInit(pid);
  };
  let finished = false; // after it, the pid may belong to someone else: no more signals
  const kill = async () => {
    await findInit();
    if (finished) return;
    killGroup(pid, "SIGKILL");
    if (init !== undefined) killPid(init, "SIGKILL");
    if (cgroupDir !== undefined) killCgroup(cgroupDir);
  };
  const terminate = async () => {
    await findInit();
    if (finished) return;
    killGroup(pid, "SIGTERM");
    if (init !== undefined) killPid(init, "SIGTERM");
    killTimer = setTimeout(kill, spec.killGraceMs ?? 2000);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    terminate();
  }, spec.timeoutMs);
  const onAbort = () => terminate();
  spec.signal?.addEventListener("abort", onAbort, { once: true });
  const status = await child.status;
  clearTimeout(timer);
  spec.signal?.removeEventListener("abort", onAbort);
  // The leader is gone; make sure nothing it left behind lives on. In PID-namespace mode an
  // `unshare` that exited (not killed) did so after reaping the namespace's first process, and
  // the kernel kills and reaps the rest of the namespace before that first process is gone:
  // nothing of the run is left, and the group signal would only build an error (ESRCH) per run.
  if (mode !== "pidns" || status.signal !== null) killGroup(pid, "SIGKILL");
  finished = true;
  if (cgroupDir !== undefined) await removeCgroup(cgroupDir);
  if (killTimer !== undefined) clearTimeout(killTimer);
  const [out, err] = await Promise.all([stdoutP, stderrP]);
  return {
    exitCode: status.signal ? -1 : status.code,
    signal: status.signal ?? undefined,
    stdout: out.data,
    stderr: err.data,
    truncated: out.truncated || err.truncated,
    timedOut,
    durationMs: performance.now() - started,
  };
}

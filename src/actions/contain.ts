/**
 * How an action's process tree is held together so that all of it dies at the timeout,
 * including children that call `setsid` and double-fork out of the process group.
 *
 * - `cgroup`: cgroup v2 with `cgroup.kill` (a fresh cgroup per run, killed whole);
 * - `pidns`: its own PID namespace (`unshare --pid --fork --kill-child --setuid --setgid`,
 *   which also drops the supplementary groups): when the namespace's first process dies, the
 *   kernel kills every process in it. The uid change clears the parent-death signal
 *   `--kill-child` set, so the runner kills that first process itself
 *   ({@linkcode namespaceInit}), even when it left the process group with `setsid`. One
 *   `setpriv` exec fewer per run: 1.4 ms against 2.9 ms a spawn, measured;
 * - `group`: the process group only (not root, or the tools are missing): a child that
 *   calls `setsid` can outlive the timeout. Said once in the log.
 *
 * The machine is probed once (first action), not per run.
 * @module
 */
import { logger } from "../util/log.ts";

/** How a run is contained; see the module doc. */
export type Containment = "cgroup" | "pidns" | "group";

/** Where cgroup v2 would be mounted. */
export const CGROUP_ROOT = "/sys/fs/cgroup";

/** What the probe looks at (tests point it elsewhere). */
export interface ProbeOptions {
  /** cgroup v2 mount point (default {@linkcode CGROUP_ROOT}). */
  cgroupRoot?: string;
  /** Whether this process is root (default: `Deno.uid() === 0`). */
  root?: boolean;
}

/** The probe's answer: the mode, why, and (cgroup mode) the parent cgroup for runs. */
export interface ProbeResult {
  /** The strongest containment available. */
  mode: Containment;
  /** Why the stronger modes were not taken (empty when the strongest was). */
  reasons: string[];
  /** cgroup mode: the directory under which each run gets its own cgroup. */
  cgroupParent?: string;
}

function isRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

async function cgroupParent(root: string): Promise<{ dir: string } | { why: string }> {
  try {
    await Deno.stat(`${root}/cgroup.controllers`);
  } catch {
    return { why: `no cgroup v2 at ${root}` };
  }
  const dir = `${root}/siglatch-actions`;
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.stat(`${dir}/cgroup.kill`);
    return { dir };
  } catch (err) {
    return { why: `cgroup v2 at ${root} not usable (${err instanceof Error ? err.message : err})` };
  }
}

async function pidnsWorks(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("unshare", {
      args: [...UNSHARE_PID, "--setgid=0", "--setuid=0", "--", "true"],
      clearEnv: true,
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.success) return undefined;
    return `unshare --pid failed: ${new TextDecoder().decode(out.stderr).trim().slice(0, 200)}`;
  } catch (err) {
    return `unshare not runnable (${err instanceof Error ? err.message : err})`;
  }
}

/** Finds the strongest containment this machine offers; never throws. */
export async function probeContainment(opts: ProbeOptions = {}): Promise<ProbeResult> {
  const reasons: string[] = [];
  if (!(opts.root ?? isRoot())) {
    return { mode: "group", reasons: ["not root: cannot create a cgroup or a PID namespace"] };
  }
  const cg = await cgroupParent(opts.cgroupRoot ?? CGROUP_ROOT);
  if ("dir" in cg) return { mode: "cgroup", reasons, cgroupParent: cg.dir };
  reasons.push(cg.why);
  const ns = await pidnsWorks();
  if (ns === undefined) return { mode: "pidns", reasons };
  reasons.push(ns);
  return { mode: "group", reasons };
}

let probed: Promise<ProbeResult> | undefined;

/** The machine's containment, probed on first use and logged once. */
export function machineContainment(): Promise<ProbeResult> {
  probed ??= probeContainment().then((r) => {
    const log = logger("daemon");
    if (r.mode === "group") {
      log.warn(
        "actions are contained by process group only: a child that calls setsid can outlive " +
          "its timeout ({why})",
        { why: r.reasons.join("; ") },
      );
    } else {
      log.info("actions run contained by {mode}", { mode: r.mode, why: r.reasons.join("; ") });
    }
    return r;
  });
  return probed;
}

const UNSHARE_PID = ["--pid", "--fork", "--kill-child"];

/** `unshare`'s own uid/gid switch (`--setgid` also empties the supplementary groups). */
function unshareIds(uid: number | undefined, gid: number | undefined): string[] {
  const ids: string[] = [];
  if (gid !== undefined) ids.push(`--setgid=${gid}`);
  if (uid !== undefined) ids.push(`--setuid=${uid}`);
  return ids;
}

/**
 * The first process of the PID namespace `unshare` (host pid `unsharePid`) made: its only
 * child. Asked while `unshare` lives (after, the child is reparented and the link is gone);
 * through `ps`, as Deno reads `/proc/PID` only with every permission.
 */
export async function namespaceInit(unsharePid: number): Promise<number | undefined> {
  try {
    const out = await new Deno.Command("ps", {
      args: ["-o", "pid=", "--ppid", String(unsharePid)],
      clearEnv: true,
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const kids = new TextDecoder().decode(out.stdout).trim().split(/\s+/).filter((k) => k);
    if (kids.length !== 1) return undefined;
    const pid = Number(kids[0]);
    return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** What to hand `Deno.Command` for one run. */
export interface Launch {
  /** Program. */
  cmd: string;
  /** Its arguments. */
  args: string[];
  /** uid for Deno to switch to (only in `group` mode; otherwise setpriv does it). */
  uid?: number;
  /** gid for Deno to switch to (only in `group` mode). */
  gid?: number;
}

function setpriv(uid: number | undefined, gid: number | undefined): string[] {
  const ids = uid === undefined ? [] : [`--reuid=${uid}`];
  if (gid !== undefined) ids.push(`--regid=${gid}`);
  if (uid !== undefined || gid !== undefined) ids.push("--clear-groups");
  // The kernel clears the parent-death signal when credentials change: set it after.
  return ["setpriv", ...ids, "--pdeathsig=SIGKILL", "--"];
}

/**
 * The command line for `argv` under `mode`. Every mode starts with `setsid`, so the whole
 * run leads its own process group (a SIGTERM to the group is the graceful first step).
 * `cgroupDir` (cgroup mode) is the run's own cgroup: the shell moves itself there and execs.
 */
export function launch(
  mode: Containment,
  argv: readonly string[],
  uid?: number,
  gid?: number,
  cgroupDir?: string,
): Launch {
  if (mode === "pidns") {
    return {
      cmd: "setsid",
      args: ["unshare", ...UNSHARE_PID, ...unshareIds(uid, gid), "--", ...argv],
    };
  }
  if (mode === "cgroup" && cgroupDir !== undefined) {
    return {
      cmd: "setsid",
      args: [
        "sh",
        "-c",
        'echo $$ > "$0" && exec "$@"',
        `${cgroupDir}/cgroup.procs`,
        ...setpriv(uid, gid),
        ...argv,
      ],
    };
  }
  return { cmd: "setsid", args: [...argv], uid, gid };
}

let runs = 0;

/** A fresh cgroup for one run under `parent`; undefined when it cannot be made. */
export async function makeRunCgroup(parent: string): Promise<string | undefined> {
  const dir = `${parent}/run-${Deno.pid}-${++runs}`;
  try {
    await Deno.mkdir(dir);
    return dir;
  } catch {
    return undefined;
  }
}

/** Kills every process in the run's cgroup; best effort. */
export function killCgroup(dir: string): void {
  try {
    Deno.writeTextFileSync(`${dir}/cgroup.kill`, "1");
  } catch {
    // gone already
  }
}

/** Kills what is left in the run's cgroup and removes it (retries while it empties). */
export async function removeCgroup(dir: string): Promise<void> {
  killCgroup(dir);
  for (let i = 0; i < 50; i++) {
    try {
      await Deno.remove(dir);
      return;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

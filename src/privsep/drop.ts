/**
 * Dropping root for good: group first, then user, then a check that the real and effective
 * uid and gid are the target and no other supplementary group is left. Refuses to go on
 * otherwise.
 * @module
 */
import process from "node:process";

/** Who the network part runs as. */
export interface DropTarget {
  /** User name (for messages). */
  user: string;
  /** uid (never 0). */
  uid: number;
  /** gid (never 0). */
  gid: number;
}

/** The Uid/Gid/Groups lines of a `/proc/PID/status` text. */
export function credentialsOf(
  status: string,
): { uids: number[]; gids: number[]; groups: number[] } {
  const field = (name: string) =>
    (status.split("\n").find((l) => l.startsWith(`${name}:`)) ?? "").slice(name.length + 1)
      .trim().split(/\s+/).filter((x) => x !== "").map(Number);
  return { uids: field("Uid"), gids: field("Gid"), groups: field("Groups") };
}

/** Drops to `target`; throws when the process still holds any other identity after it. */
export function dropPrivileges(target: DropTarget): void {
  if (target.uid === 0 || target.gid === 0) {
    throw new Error(`refusing to run the network part as ${target.user}: uid or gid is 0`);
  }
  if (!process.setgid || !process.setuid) throw new Error("this runtime cannot change its uid");
  process.setgid(target.gid);
  process.setuid(target.uid);
  // (Deno refuses to read /proc without --allow-all, so the check uses the process calls;
  // the privileged part's log and the tests read /proc from outside.)
  const uids = [Deno.uid(), process.geteuid?.()];
  const gids = [Deno.gid(), process.getegid?.()];
  const groups = process.getgroups?.() ?? [];
  const wrong = uids.some((u) => u !== target.uid) || gids.some((g) => g !== target.gid) ||
    groups.some((g) => g !== target.gid);
  if (wrong) {
    throw new Error(
      `privileges not dropped to ${target.user} (${target.uid}:${target.gid}): uids ${
        uids.join(" ")
      }, gids ${gids.join(" ")}, groups ${groups.join(" ")}`,
    );
  }
}

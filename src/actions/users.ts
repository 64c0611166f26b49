/**
 * Resolves `run_as` names to numeric uid/gid from /etc/passwd and /etc/group.
 * @module
 */

/** A resolved identity to run a child process as. */
export interface RunAsIds {
  /** User name as configured. */
  user: string;
  /** Numeric uid. */
  uid: number;
  /** Numeric gid (the named group, else the user's primary group). */
  gid: number;
}

function readTable(path: string): string[][] {
  try {
    return Deno.readTextFileSync(path).split("\n").filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(":"));
  } catch {
    return [];
  }
}

/** Splits a `run_as` value (`user`, `user:group`, or `{user, group}`) into names. */
export function runAsNames(
  runAs: string | { user: string; group?: string },
): { user: string; group?: string } {
  if (typeof runAs !== "string") return runAs;
  const [user, group] = runAs.split(":", 2);
  return group ? { user, group } : { user };
}

/** Looks up uid/gid; returns an error message when the user or group does not exist. */
export function resolveRunAs(
  runAs: string | { user: string; group?: string },
  passwdPath = "/etc/passwd",
  groupPath = "/etc/group",
): RunAsIds | string {
  const { user, group } = runAsNames(runAs);
  const pw = readTable(passwdPath).find((r) => r[0] === user || r[2] === user);
  if (!pw) return `run_as user "${user}" does not exist`;
  let gid = Number(pw[3]);
  if (group !== undefined) {
    const gr = readTable(groupPath).find((r) => r[0] === group || r[2] === group);
    if (!gr) return `run_as group "${group}" does not exist`;
    gid = Number(gr[2]);
  }
  return { user, uid: Number(pw[2]), gid };
}

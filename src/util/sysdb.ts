/**
 * The local account database: /etc/passwd and /etc/group read directly (no NSS: users
 * that only exist in LDAP are not seen, which `check` says in its message). One parser
 * for `check`'s lint and for the daemon resolving `run_as` to numeric ids, so the two
 * can never disagree on what a name or a `user:group` means.
 *
 * @example
 * ```ts
 * const ids = resolveRunAs("nobody:nogroup"); // { user, uid, gid } or an error message
 * ```
 * @module
 */

/** One line of /etc/passwd (`gid` is the primary group) or /etc/group (no `gid`). */
export interface DbEntry {
  /** Account or group name (field 1). */
  name: string;
  /** uid or gid (field 3). */
  id: number;
  /** Primary gid (field 4 of passwd). */
  gid?: number;
}

/** A resolved identity to run a child process as. */
export interface RunAsIds {
  /** User name as configured. */
  user: string;
  /** Numeric uid. */
  uid: number;
  /** Numeric gid (the named group, else the user's primary group). */
  gid: number;
}

/** `run_as` as written in the config. */
export type RunAs = string | { user: string; group?: string };

const ID = /^\d+$/;

/** Parses passwd- or group-style text; skips comments, blank and malformed lines. */
export function parseDb(text: string): DbEntry[] {
  const out: DbEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 3 || !f[0] || !ID.test(f[2])) continue;
    const entry: DbEntry = { name: f[0], id: Number(f[2]) };
    if (f.length > 3 && ID.test(f[3])) entry.gid = Number(f[3]);
    out.push(entry);
  }
  return out;
}

/** The entries of a passwd- or group-style file; empty when it cannot be read. */
export function readDb(path: string): DbEntry[] {
  try {
    return parseDb(Deno.readTextFileSync(path));
  } catch {
    return [];
  }
}

/** The entry named `name`, or with that numeric id when `name` is all digits. */
export function findEntry(db: readonly DbEntry[], name: string): DbEntry | undefined {
  const byName = db.find((e) => e.name === name);
  if (byName || !ID.test(name)) return byName;
  const id = Number(name);
  return db.find((e) => e.id === id);
}

/** Splits `run_as` (`user`, `user:group` or `{user, group}`) at the first colon. */
export function splitRunAs(runAs: RunAs): { user: string; group?: string } {
  if (typeof runAs !== "string") return runAs;
  const colon = runAs.indexOf(":");
  return colon < 0
    ? { user: runAs }
    : { user: runAs.slice(0, colon), group: runAs.slice(colon + 1) };
}

/** Looks up uid/gid; returns an error message when the user or group does not exist. */
export function resolveRunAs(
  runAs: RunAs,
  passwdPath = "/etc/passwd",
  groupPath = "/etc/group",
): RunAsIds | string {
  const { user, group } = splitRunAs(runAs);
  const pw = findEntry(readDb(passwdPath), user);
  if (!pw) return `run_as user "${user}" does not exist`;
  if (group === undefined) {
    if (pw.gid === undefined) return `run_as user "${user}" has no primary group in ${passwdPath}`;
    return { user, uid: pw.id, gid: pw.gid };
  }
  const gr = findEntry(readDb(groupPath), group);
  if (!gr) return `run_as group "${group}" does not exist`;
  return { user, uid: pw.id, gid: gr.id };
}

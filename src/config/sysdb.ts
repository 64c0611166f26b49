/**
 * Reading local user and group names from /etc/passwd and /etc/group (no NSS: users
 * that only exist in LDAP are not seen, which `check` says in its message).
 *
 * @module
 */

/** Names and numeric ids from a passwd- or group-style file; empty when unreadable. */
export function readNameDb(path: string): { names: Set<string>; ids: Set<number> } {
  const names = new Set<string>();
  const ids = new Set<number>();
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return { names, ids };
  }
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const fields = line.split(":");
    if (fields.length < 3) continue;
    names.add(fields[0]);
    const id = Number(fields[2]);
    if (Number.isInteger(id)) ids.add(id);
  }
  return { names, ids };
}

/** Splits a `run_as` value into user and optional group. */
export function splitRunAs(
  runAs: string | { user: string; group?: string },
): { user: string; group?: string } {
  if (typeof runAs !== "string") return runAs;
  const colon = runAs.indexOf(":");
  return colon < 0
    ? { user: runAs }
    : { user: runAs.slice(0, colon), group: runAs.slice(colon + 1) };
}

/** True when `name` (or a numeric id) is in the database. */
export function hasName(db: { names: Set<string>; ids: Set<number> }, name: string): boolean {
  return db.names.has(name) || (/^\d+$/.test(name) && db.ids.has(Number(name)));
}

/**
 * Enrolled users in the runtime's user table: the daemon merges them into the running
 * runtime (a user of the config with the same id wins) and rebuilds the table whenever the
 * enrolled set or the config changes.
 * @module
 */
import type { UserConfig } from "../config/schema.ts";
import type { Runtime, UserRuntime } from "../daemon/runtime.ts";
import type { EnrolledRecord } from "./registry.ts";

/** An enrolled user as the daemon needs it (actions the config no longer has are left out). */
export function enrolledUserRuntime(
  rec: EnrolledRecord,
  actionIdsByName: ReadonlyMap<string, number>,
): UserRuntime {
  const config: UserConfig = {
    id: rec.id,
    name: rec.name,
    enabled: true,
    actions: rec.actions,
    not_after: rec.not_after,
    ...(rec.max_uses !== undefined ? { max_uses: rec.max_uses } : {}),
    require_challenge: false,
  };
  const actionIds = new Set<number>();
  for (const name of rec.actions) {
    const id = actionIdsByName.get(name);
    if (id !== undefined) actionIds.add(id);
  }
  return {
    config,
    verifier: { ed25519Public: Uint8Array.fromBase64(rec.ed25519_public) },
    actionIds,
  };
}

/** `base` with the enrolled users added to its user table (config users keep their ids). */
export function withEnrolled(base: Runtime, enrolled: readonly EnrolledRecord[]): Runtime {
  if (enrolled.length === 0) return base;
  const users = new Map(base.users);
  const names = new Set([...base.users.values()].map((u) => u.config.name));
  for (const rec of enrolled) {
    if (users.has(rec.id) || names.has(rec.name)) continue;
    users.set(rec.id, enrolledUserRuntime(rec, base.actionIdsByName));
  }
  return { ...base, users };
}

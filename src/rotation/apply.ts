/**
 * Rotation in the runtime: each server with a rotation record gets its current generation's
 * key pair and, while the grace period lasts, a {@linkcode KeyRing} that also opens the
 * previous generation's requests, plus the notice their replies carry.
 * @module
 */
import { RequestOpener } from "../wire/mod.ts";
import type { Runtime, ServerRuntime } from "../daemon/runtime.ts";
import { KeyRing } from "./keyring.ts";
import { deriveGeneration, type RotationRecord } from "./state.ts";

/** `base` with every rotated server's current (and previous) key. */
export function withRotation(
  base: Runtime,
  records: ReadonlyMap<string, RotationRecord>,
  now: number,
  clock: () => number,
): Runtime {
  if (records.size === 0) return base;
  const servers = new Map<string, ServerRuntime>();
  for (const [name, s] of base.servers) {
    const rec = records.get(name);
    if (!rec || rec.gen === 0) {
      servers.set(name, s);
      continue;
    }
    const configured = { x25519Private: s.privateKey, x25519Public: s.publicKey };
    const cur = deriveGeneration(configured, rec);
    const prev = rec.prev && rec.prev.until > now
      ? deriveGeneration(configured, rec.prev)
      : undefined;
    const opts = {
      ...cur,
      insecure: s.config.mode === "insecure",
      skewMs: s.config.limits.clock_skew,
      clock,
    };
    servers.set(name, {
      ...s,
      opener: prev ? new KeyRing(opts, prev) : new RequestOpener(opts),
      publicKey: cur.x25519Public,
      privateKey: cur.x25519Private,
      previous: prev,
      notice: { pub: cur.x25519Public.toBase64() },
    });
  }
  return { ...base, servers };
}

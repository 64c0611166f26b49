/**
 * Server key rotation state, in the state store so it survives a restart and a Redis
 * cluster rotates once, not once per node.
 *
 * Generation 0 is the key the config names. Generation N > 0 is derived from it and a
 * random salt kept in the store:
 *
 *     private_N = HKDF-SHA256(salt = salt_N, ikm = private_0,
 *                             info = "siglatch v2 rotated server key" ‖ N (u32))[0..32]
 *
 * so the store holds no private key (only salts), every node that holds the configured key
 * derives the same one, and a leaked derived key reveals neither the configured key nor
 * another generation. The previous generation stays accepted until `prev.until`.
 * @module
 */
import { randomFillSync } from "node:crypto";
import { hkdfExpand, hkdfExtract } from "../crypto/hkdf.ts";
import { x25519PublicFromPrivate } from "../crypto/keys.ts";
import type { StateStore } from "../state/store.ts";

/** Namespace of rotation records (key: server name). */
export const ROTATION_NS = "server_rotation";
/** Namespace of the one-rotation-per-generation claims (key: `server:generation`). */
export const ROTATION_CLAIM_NS = "server_rotation_claim";
const LABEL = new TextEncoder().encode("siglatch v2 rotated server key");

/** One generation of a server's key. */
export interface Generation {
  /** Generation number (0: the configured key). */
  gen: number;
  /** Salt of the derivation, base64 ("" for generation 0). */
  salt: string;
}

/** A server's rotation record. */
export interface RotationRecord extends Generation {
  /** When this generation became current (epoch ms). */
  since: number;
  /** The generation before, accepted until `until`. */
  prev?: Generation & { until: number };
}

/** A derived key pair. */
export interface KeyPair {
  /** Raw X25519 private key. */
  x25519Private: Uint8Array;
  /** Raw X25519 public key. */
  x25519Public: Uint8Array;
}

/** The key pair of generation `g` of `base`. */
export function deriveGeneration(base: KeyPair, g: Generation): KeyPair {
  if (g.gen === 0) return base;
  const info = new Uint8Array(4);
  new DataView(info.buffer).setUint32(0, g.gen);
  const prk = hkdfExtract(Uint8Array.fromBase64(g.salt), base.x25519Private);
  const priv = hkdfExpand(prk, [LABEL, info], 32);
  return { x25519Private: priv, x25519Public: x25519PublicFromPrivate(priv) };
}

function isGeneration(v: Record<string, unknown>): boolean {
  if (!Number.isInteger(v.gen) || (v.gen as number) < 0 || typeof v.salt !== "string") {
    return false;
  }
  try {
    return v.gen === 0 || Uint8Array.fromBase64(v.salt as string).length === 32;
  } catch {
    return false;
  }
}

/** Checks a record read from the store. */
export function checkRotation(v: unknown): RotationRecord | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (!isGeneration(r) || !Number.isFinite(r.since)) return undefined;
  if (r.prev !== undefined) {
    const p = r.prev as Record<string, unknown>;
    if (typeof p !== "object" || p === null || !isGeneration(p) || !Number.isFinite(p.until)) {
      return undefined;
    }
  }
  return r as unknown as RotationRecord;
}

/** The rotation record of `server`, or `undefined` (generation 0). */
export async function loadRotation(
  store: StateStore,
  server: string,
): Promise<RotationRecord | undefined> {
  return checkRotation((await store.get<unknown>(ROTATION_NS, server))?.value);
}

/**
 * Rotates `server` from `from` (the record this node saw; `undefined`: generation 0) to a new
 * generation; the current one stays accepted for `graceMs`. Exactly one caller per
 * generation wins (an atomic claim in the store); the others get `undefined` and should
 * reload the record.
 */
export async function rotateServer(
  store: StateStore,
  server: string,
  from: RotationRecord | undefined,
  graceMs: number,
  now: number,
): Promise<RotationRecord | undefined> {
  const gen = from?.gen ?? 0;
  const claim = await store.increment(ROTATION_CLAIM_NS, `${server}:${gen}`, 1);
  if (claim !== 1) return undefined;
  const next: RotationRecord = {
    gen: gen + 1,
    salt: randomFillSync(new Uint8Array(32)).toBase64(),
    since: now,
    prev: { gen, salt: from?.salt ?? "", until: now + graceMs },
  };
  await store.set(ROTATION_NS, server, next);
  return next;
}

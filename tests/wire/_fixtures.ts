/** Shared keys and helpers for the wire tests (fixed, so failures reproduce). */
import { createHash } from "node:crypto";
import { mac1Key } from "../../src/wire/mac1.ts";
import { ed25519PublicFromPrivate, x25519PublicFromPrivate } from "../../src/crypto/keys.ts";
import {
  RequestOpener,
  type RequestOpenerOptions,
  SUITE_V1,
  SUITE_V2,
  type UserAuth,
  type UserVerifier,
  type WireMode,
} from "../../src/wire/mod.ts";

export const NOW = 1_750_000_000_000;

export const serverPrivate = Uint8Array.fromHex("a8" + "ab".repeat(30) + "6b");
export const serverPublic = x25519PublicFromPrivate(serverPrivate);
export const otherServerPrivate = Uint8Array.fromHex("c8" + "cd".repeat(30) + "4d");
export const otherServerPublic = x25519PublicFromPrivate(otherServerPrivate);

export const hmacKey = Uint8Array.fromHex(
  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
);
export const edSeed = Uint8Array.fromHex(
  "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
);
export const edPublic = ed25519PublicFromPrivate(edSeed);

export const HMAC_USER = 42;
export const ED_USER = 43;

export const AUTHS: Record<"hmac" | "ed25519", { auth: UserAuth; userId: number }> = {
  hmac: { auth: { kind: "hmac", key: hmacKey }, userId: HMAC_USER },
  ed25519: { auth: { kind: "ed25519", privateKey: edSeed }, userId: ED_USER },
};

const users = new Map<number, UserVerifier>([
  [HMAC_USER, { hmacKey }],
  [ED_USER, { ed25519Public: edPublic }],
]);

export const lookup = (id: number): UserVerifier | undefined => users.get(id);

export function opener(opts: Partial<RequestOpenerOptions> = {}): RequestOpener {
  return new RequestOpener({
    x25519Private: serverPrivate,
    x25519Public: serverPublic,
    clock: () => NOW,
    ...opts,
  });
}

/**
 * What an active attacker can do: (re)compute mac1 over `body` (the key is public-derived).
 * v2 (default): body ‖ mac1 ‖ zero mac2; v1: body ‖ mac1.
 */
export function withMac1(body: Uint8Array, mode: WireMode, version: 1 | 2 = 2): Uint8Array {
  const suite = version === 1 ? SUITE_V1 : SUITE_V2;
  const key = mac1Key(suite.mac1Label[mode], serverPublic);
  const mac = createHash("sha256").update(key).update(body).digest();
  const out = new Uint8Array(body.length + 16 + (version === 1 ? 0 : 16));
  out.set(body);
  out.set(mac.subarray(0, 16), body.length);
  return out;
}

/** Replaces the trailer of `d` (v2: mac1 and mac2; v1: mac1) by a valid mac1 (zero mac2). */
export function remac(d: Uint8Array, mode: WireMode, version: 1 | 2 = 2): Uint8Array {
  return withMac1(d.subarray(0, Math.max(0, d.length - (version === 1 ? 16 : 32))), mode, version);
}

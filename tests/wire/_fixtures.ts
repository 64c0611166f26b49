/** Shared keys and helpers for the wire tests (fixed, so failures reproduce). */
import { fromHex } from "../../src/crypto/bytes.ts";
import { ed25519PublicFromPrivate, x25519PublicFromPrivate } from "../../src/crypto/keys.ts";
import {
  RequestOpener,
  type RequestOpenerOptions,
  type UserAuth,
  type UserVerifier,
} from "../../src/wire/mod.ts";

export const NOW = 1_750_000_000_000;

export const serverPrivate = fromHex("a8" + "ab".repeat(30) + "6b");
export const serverPublic = x25519PublicFromPrivate(serverPrivate);
export const otherServerPrivate = fromHex("c8" + "cd".repeat(30) + "4d");
export const otherServerPublic = x25519PublicFromPrivate(otherServerPrivate);

export const hmacKey = fromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
export const edSeed = fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
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

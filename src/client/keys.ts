/**
 * Loads the keys a client profile names: the server's X25519 public key and the user's
 * HMAC or Ed25519 key.
 * @module
 */
import { readEd25519Private, readHmacKey, readX25519PublicKey } from "../crypto/keyfile.ts";
import type { UserAuth } from "../wire/mod.ts";
import type { Profile } from "./profile.ts";

/** The keys a request is sealed and signed with. */
export interface ClientKeys {
  /** Server X25519 public key (32 bytes). */
  serverPublic: Uint8Array;
  /** How the user authenticates. */
  auth: UserAuth;
}

/** Reads the keys of a resolved profile; throws an Error naming the file or field at fault. */
export async function loadProfileKeys(p: Profile): Promise<ClientKeys> {
  let serverPublic: Uint8Array;
  if (p.server_public_key) {
    try {
      serverPublic = Uint8Array.fromBase64(p.server_public_key);
    } catch {
      throw new Error("server_public_key: not base64");
    }
    if (serverPublic.length !== 32) {
      throw new Error("server_public_key: expected base64 of 32 bytes");
    }
  } else serverPublic = await readX25519PublicKey(p.server_public_key_file!);
  const auth: UserAuth = p.hmac_key_file
    ? { kind: "hmac", key: await readHmacKey(p.hmac_key_file) }
    : { kind: "ed25519", privateKey: (await readEd25519Private(p.ed25519_key_file!)).privateKey };
  return { serverPublic, auth };
}

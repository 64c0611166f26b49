/**
 * Loads the keys a client profile names: the server's X25519 public key and the user's
 * HMAC or Ed25519 key.
 * @module
 */
import { readEd25519Private, readHmacKey, readX25519PublicKey } from "../crypto/keyfile.ts";
import type { UserAuth } from "../wire/mod.ts";
import type { Profile } from "./profile.ts";
import { verifyKeyCert } from "../crypto/keycert.ts";
import { constantTimeEqual } from "../crypto/ct.ts";

function base64Field(name: string, text: string | undefined): Uint8Array {
  if (text === undefined) throw new Error(`${name}: missing (the profile pins server_identity)`);
  try {
    return Uint8Array.fromBase64(text.trim());
  } catch {
    throw new Error(`${name}: not base64`);
  }
}

/**
 * The server key of a profile that pins the server identity: the certificate must verify
 * under the pin, cover `now`, and name the profile's server key.
 */
function checkPinned(p: Profile, serverPublic: Uint8Array, now: number): Uint8Array {
  const identity = base64Field("server_identity", p.server_identity);
  const cert = base64Field("server_key_cert", p.server_key_cert);
  const v = verifyKeyCert(identity, cert, now);
  if (!v.ok) {
    throw new Error(
      `server_key_cert: refused (${v.reason.replaceAll("_", " ")}): the server key is not ` +
        "vouched for by the pinned server_identity",
    );
  }
  if (!constantTimeEqual(v.cert.key, serverPublic)) {
    throw new Error("server_key_cert: certifies another key than server_public_key");
  }
  return serverPublic;
}

/** The keys a request is sealed and signed with. */
export interface ClientKeys {
  /** Server X25519 public key (32 bytes). */
  serverPublic: Uint8Array;
  /** How the user authenticates. */
  auth: UserAuth;
}

/** Reads the keys of a resolved profile; throws an Error naming the file or field at fault. */
export async function loadProfileKeys(p: Profile, now = Date.now()): Promise<ClientKeys> {
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
  if (p.server_identity !== undefined) serverPublic = checkPinned(p, serverPublic, now);
  const auth: UserAuth = p.hmac_key_file
    ? { kind: "hmac", key: await readHmacKey(p.hmac_key_file) }
    : { kind: "ed25519", privateKey: (await readEd25519Private(p.ed25519_key_file!)).privateKey };
  return { serverPublic, auth };
}

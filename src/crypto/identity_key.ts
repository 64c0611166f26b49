/**
 * Reads a server's identity key (`identity_key_file`: plain or encrypted PKCS#8 Ed25519, the
 * server's `key_passphrase` applies) as its raw 32-byte seed.
 * @module
 */
import type { ServerConfig } from "../config/schema.ts";
import { parsePrivatePem, readPassphrase, readSourcePem } from "./key_at_rest.ts";

/** The identity's Ed25519 seed, when the server names `identity_key_file`. */
export async function loadIdentitySeed(s: ServerConfig): Promise<Uint8Array | undefined> {
  if (!s.identity_key_file) return undefined;
  const { text, where } = await readSourcePem({ key_file: s.identity_key_file });
  const pass = s.key_passphrase ? await readPassphrase(s.key_passphrase) : undefined;
  const key = parsePrivatePem(text, where, "ed25519", pass);
  const d = (key.export({ format: "jwk" }) as { d?: string }).d;
  if (typeof d !== "string") throw new Error(`${where}: no private part`);
  return Uint8Array.fromBase64(d.replace(/-/g, "+").replace(/_/g, "/"));
}

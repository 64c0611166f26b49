/**
 * Writes tests/vectors/keycert_v2.json: a server key certificate (docs/PROTOCOL.md §14)
 * from a fixed identity seed, X25519 key and validity. Ed25519 is deterministic, so the
 * bytes are fixed. Run: deno run --allow-write tests/vectors/gen_keycert_v2.ts
 */
import { signKeyCert } from "../../src/crypto/keycert.ts";
import { ed25519PublicFromPrivate } from "../../src/crypto/keys.ts";

const seed = Uint8Array.fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
const key = Uint8Array.fromHex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
const notBefore = 1_796_000_000_000;
const notAfter = 1_827_536_000_000;
const cert = signKeyCert(seed, { key, notBefore, notAfter });
const out = {
  description: "siglatch v2 server key certificate (docs/PROTOCOL.md §14)",
  label: "siglatch v2 server key",
  identity_seed: seed.toHex(),
  identity_public: ed25519PublicFromPrivate(seed).toHex(),
  x25519_public: key.toHex(),
  not_before_ms: notBefore,
  not_after_ms: notAfter,
  cert: cert.toHex(),
};
await Deno.writeTextFile(
  new URL("./keycert_v2.json", import.meta.url),
  JSON.stringify(out, null, 2) + "\n",
);

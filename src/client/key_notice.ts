/**
 * The client's side of a server key rotation: a reply to a request sealed to a rotated-out
 * key carries the new key (`key` in the reply body). The notice is authentic because it came
 * in a reply only the holder of the old server key could seal; when the profile pins a
 * server identity, the new key must also carry a certificate by that identity. The profile
 * is then rewritten atomically (temporary file + rename, same mode), the old one kept as
 * `PROFILE.bak`.
 * @module
 */
import { parseDocument } from "yaml";
import { verifyKeyCert } from "../crypto/keycert.ts";
import { constantTimeEqual } from "../crypto/ct.ts";
import type { Profile } from "./profile.ts";
import { formatHmacKey } from "../crypto/keyfile.ts";

/** What became of a notice. */
export type NoticeOutcome =
  | { applied: true; profile: string; backup: string; key: string }
  | { applied: false; reason: string };

function b64(v: unknown, len: number): Uint8Array | undefined {
  if (typeof v !== "string") return undefined;
  try {
    const b = Uint8Array.fromBase64(v);
    return b.length === len ? b : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Applies a key notice to profile `p`, whose current key is `current`; `undefined` when the
 * notice names the key the profile already has.
 */
export async function applyKeyNotice(
  p: Profile,
  current: Uint8Array,
  notice: unknown,
  now = Date.now(),
): Promise<NoticeOutcome | undefined> {
  const n = (typeof notice === "object" && notice !== null ? notice : {}) as Record<
    string,
    unknown
  >;
  const key = b64(n.pub, 32);
  if (!key) return { applied: false, reason: "the notice's key is malformed" };
  if (constantTimeEqual(key, current)) return undefined;
  let cert: string | undefined;
  if (p.server_identity !== undefined) {
    const identity = b64(p.server_identity, 32);
    const raw = typeof n.cert === "string" ? b64(n.cert, 112) : undefined;
    if (!identity || !raw) {
      return {
        applied: false,
        reason: "the profile pins server_identity, the notice has no certificate",
      };
    }
    const v = verifyKeyCert(identity, raw, now);
    if (!v.ok) return { applied: false, reason: `the new key's certificate: ${v.reason}` };
    if (!constantTimeEqual(v.cert.key, key)) {
      return { applied: false, reason: "the certificate is for another key" };
    }
    cert = n.cert as string;
  }
  if (!p.path) return { applied: false, reason: "the profile has no file to rewrite" };
  const path = p.path;
  const text = await Deno.readTextFile(path);
  const mode = (await Deno.stat(path)).mode ?? 0o600;
  const doc = parseDocument(text);
  doc.set("server_public_key", key.toBase64());
  doc.delete("server_public_key_file");
  if (cert !== undefined) doc.set("server_key_cert", cert);
  const backup = `${path}.bak`;
  await Deno.writeTextFile(backup, text, { mode: mode & 0o777 });
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, doc.toString(), { mode: mode & 0o777 });
  await Deno.chmod(tmp, mode & 0o777);
  await Deno.rename(tmp, path);
  return { applied: true, profile: path, backup, key: key.toBase64() };
}

/**
 * Applies a user key notice (`user_key` in a reply to a request made with the previous HMAC
 * key): the profile's `hmac_key_file` gets the new key (the old file kept as `FILE.bak`,
 * the new one written to a temporary file and renamed over it, same mode). `undefined` when
 * the profile has no HMAC key file.
 */
export async function applyUserKeyNotice(
  p: Profile,
  notice: unknown,
): Promise<NoticeOutcome | undefined> {
  if (!p.hmac_key_file) return undefined;
  const n = (typeof notice === "object" && notice !== null ? notice : {}) as Record<
    string,
    unknown
  >;
  const key = b64(n.hmac, 32);
  if (!key) return { applied: false, reason: "the notice's key is malformed" };
  const path = p.hmac_key_file;
  const old = await Deno.readFile(path);
  const mode = ((await Deno.stat(path)).mode ?? 0o600) & 0o777;
  const backup = `${path}.bak`;
  await Deno.writeFile(backup, old, { mode });
  await Deno.chmod(backup, mode);
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, formatHmacKey(key), { mode });
  await Deno.chmod(tmp, mode);
  await Deno.rename(tmp, path);
  return { applied: true, profile: path, backup, key: "(new HMAC key)" };
}

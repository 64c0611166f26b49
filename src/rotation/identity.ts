/**
 * The server identity in the running daemon: `identity_key_file` is read with the other keys
 * (under privilege separation by the privileged part, which hands the seed over with the
 * X25519 key), and every server's current X25519 key is certified by it (docs/PROTOCOL.md
 * §14). The certificate goes out in enroll answers and in rotation notices, so a client that
 * pins the identity can verify every key it is given.
 * @module
 */
import { signKeyCert } from "../crypto/keycert.ts";
import { ed25519PublicFromPrivate } from "../crypto/keys.ts";
import type { Runtime, ServerRuntime } from "../daemon/runtime.ts";

/** How long a certificate the daemon issues is valid (re-issued at every rebuild). */
export const DAEMON_CERT_VALID_MS = 365 * 86_400_000;
/** How far back a certificate starts (clients whose clock is a little behind). */
const BACKDATE_MS = 300_000;

/** `runtime` with every server that has an identity carrying a certificate for its key. */
export function withIdentity(runtime: Runtime, now: number): Runtime {
  let changed = false;
  const servers = new Map<string, ServerRuntime>();
  for (const [name, s] of runtime.servers) {
    if (!s.identitySeed) {
      servers.set(name, s);
      continue;
    }
    changed = true;
    const cert = signKeyCert(s.identitySeed, {
      key: s.publicKey,
      notBefore: now - BACKDATE_MS,
      notAfter: now + DAEMON_CERT_VALID_MS,
    }).toBase64();
    const identity = ed25519PublicFromPrivate(s.identitySeed).toBase64();
    servers.set(name, {
      ...s,
      identity: { server_identity: identity, server_key_cert: cert },
      ...(s.notice ? { notice: { ...s.notice, cert } } : {}),
    });
  }
  return changed ? { ...runtime, servers } : runtime;
}

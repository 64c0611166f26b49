/**
 * `siglatch keygen cert --config FILE [--server NAME] [--valid DURATION]`: the server's
 * identity key (`identity_key_file`) signs its X25519 key for a validity period; prints the
 * profile lines that pin the identity and carry the certificate.
 * @module
 */
import type { Command } from "commander";
import { loadConfig } from "../config/load.ts";
import { parseDuration } from "../config/duration.ts";
import { formatFinding } from "../config/findings.ts";
import {
  loadServerKey,
  parsePrivatePem,
  readPassphrase,
  readSourcePem,
} from "../crypto/key_at_rest.ts";
import { signKeyCert } from "../crypto/keycert.ts";
import { CliError, UsageError } from "./errors.ts";

/** What `keygen cert` prints as JSON. */
export interface KeyCertResult {
  /** Server name. */
  server: string;
  /** Base64 of the identity's Ed25519 public key (the pin). */
  server_identity: string;
  /** Base64 of the X25519 key. */
  server_public_key: string;
  /** Base64 of the 112-byte certificate. */
  server_key_cert: string;
  /** Validity (ISO 8601). */
  not_before: string;
  /** Validity end (ISO 8601). */
  not_after: string;
}

/** Signs the X25519 key of `server` in `configPath` with its identity key. */
export async function issueKeyCert(
  configPath: string,
  server: string | undefined,
  validMs: number,
  now = Date.now(),
): Promise<KeyCertResult> {
  const loaded = await loadConfig(configPath);
  if (!loaded.ok) {
    throw new CliError(loaded.findings.map((f) => formatFinding(f)).join("\n"));
  }
  const servers = loaded.config.servers;
  const s = server === undefined ? servers[0] : servers.find((x) => x.name === server);
  if (!s) throw new UsageError(`no server ${server ?? "(the config has none)"}`);
  if (!s.identity_key_file) {
    throw new CliError(`servers.${s.name}: set identity_key_file (keygen server makes one)`);
  }
  const x = await loadServerKey(s);
  const { text, where } = await readSourcePem({ key_file: s.identity_key_file });
  const pass = s.key_passphrase ? await readPassphrase(s.key_passphrase) : undefined;
  const id = parsePrivatePem(text, where, "ed25519", pass);
  const jwk = id.export({ format: "jwk" }) as { d: string; x: string };
  const b64 = (u: string) => Uint8Array.fromBase64(u.replace(/-/g, "+").replace(/_/g, "/"));
  // A few minutes back, for clients whose clock is a little behind.
  const notBefore = now - 300_000;
  const notAfter = now + validMs;
  const cert = signKeyCert(b64(jwk.d), { key: x.x25519Public, notBefore, notAfter });
  return {
    server: s.name,
    server_identity: b64(jwk.x).toBase64(),
    server_public_key: x.x25519Public.toBase64(),
    server_key_cert: cert.toBase64(),
    not_before: new Date(notBefore).toISOString(),
    not_after: new Date(notAfter).toISOString(),
  };
}

/** Adds `cert` under `keygen`. */
export function registerCert(keygen: Command): void {
  keygen.command("cert")
    .summary("sign the server key with the identity key, for profiles that pin the identity")
    .requiredOption("-c, --config <file>", "the daemon's config")
    .option("--server <name>", "server entry (default: the first)")
    .option("--valid <duration>", "how long the certificate is valid", "365d")
    .option("--json", "print JSON")
    .action(async (opts: { config: string; server?: string; valid: string; json?: boolean }) => {
      const ms = parseDuration(opts.valid);
      if (ms === undefined || ms <= 0) {
        throw new UsageError(`--valid: not a duration: ${opts.valid}`);
      }
      const r = await issueKeyCert(opts.config, opts.server, ms);
      const text = opts.json ? JSON.stringify(r) : [
        `# client profile lines for server ${r.server} (valid until ${r.not_after}):`,
        `server_public_key: ${r.server_public_key}`,
        `server_identity: ${r.server_identity}`,
        `server_key_cert: ${r.server_key_cert}`,
      ].join("\n");
      await Deno.stdout.write(new TextEncoder().encode(text + "\n"));
    });
}

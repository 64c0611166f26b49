/**
 * `siglatch keygen`: makes key files for a server (`keygen server DIR`) or a user
 * (`keygen user NAME DIR`), with private keys 0600 and public keys 0644, and prints the
 * config snippets that use them. Never overwrites a file without `--force`.
 * @module
 */
import type { Command } from "commander";
import { generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { CliError, UsageError } from "./errors.ts";
import { formatHmacKey, KeyFileError, writeKeyFile } from "../crypto/keyfile.ts";
import { UserSchema } from "../config/schema.ts";
import { encryptedPem } from "../crypto/key_at_rest.ts";
import { registerCert } from "./keycert.ts";

/** Mode of private key files. */
export const PRIVATE_MODE = 0o600;
/** Mode of public key files. */
export const PUBLIC_MODE = 0o644;

/** Flags common to both keygen subcommands. */
export interface KeygenFlags {
  /** Replace existing files. */
  force?: boolean;
  /** Print JSON instead of text. */
  json?: boolean;
}

/** One file to write. */
interface KeyFilePlan {
  /** Absolute path. */
  path: string;
  /** PEM or base64 text. */
  text: string;
  /** File mode. */
  mode: number;
}

/** What `keygen server` wrote. */
export interface ServerKeygenResult {
  /** Absolute paths of the files written. */
  files: {
    x25519_private: string;
    x25519_public: string;
    ed25519_private: string;
    ed25519_public: string;
  };
  /** Public keys as base64 of the 32 raw bytes. */
  public_keys: { x25519: string; ed25519: string };
}

/** What `keygen user` wrote. */
export interface UserKeygenResult {
  /** The user's name. */
  name: string;
  /** The user id given with `--id`, or null. */
  id: number | null;
  /** Absolute paths of the files written. */
  files: { hmac: string; ed25519_private: string; ed25519_public: string };
  /** Public key as base64 of the 32 raw bytes. */
  public_keys: { ed25519: string };
  /** Files the user's client needs (secret: hand over securely). */
  give_to_user: string[];
  /** Files the server's config refers to. */
  keep_on_server: string[];
}

function rawPublic(key: KeyObject): string {
  const x = (key.export({ format: "jwk" }) as { x?: string }).x;
  if (typeof x !== "string") throw new Error("public key has no x component");
  return Uint8Array.fromBase64(x.replace(/-/g, "+").replace(/_/g, "/")).toBase64();
}

function pem(key: KeyObject, type: "pkcs8" | "spki"): string {
  return key.export({ type, format: "pem" }).toString();
}

/** Fails unless `dir` is a directory or does not exist yet (it is created 0700 later). */
async function checkTargetDir(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    const why = err instanceof Deno.errors.NotADirectory
      ? "a parent is not a directory"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new CliError(`cannot use directory ${dir}: ${why}`);
  }
  if (!info.isDirectory) throw new CliError(`${dir} exists and is not a directory`);
}

/**
 * Writes every planned file, or none: refuses (naming them) when any target exists and
 * `force` is not set; removes the files it created when a later write fails.
 */
async function writeAll(plans: KeyFilePlan[], force: boolean): Promise<void> {
  const dirs = [...new Set(plans.map((p) => p.path.slice(0, p.path.lastIndexOf("/")) || "/"))];
  for (const dir of dirs) await checkTargetDir(dir);
  if (!force) {
    const existing: string[] = [];
    for (const p of plans) {
      try {
        await Deno.lstat(p.path);
        existing.push(p.path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) {
          throw new CliError(`cannot check ${p.path}: ${err instanceof Error ? err.message : err}`);
        }
      }
    }
    if (existing.length > 0) {
      throw new CliError(
        `refusing to overwrite existing ${existing.join(", ")} (use --force to replace); ` +
          `nothing was written`,
      );
    }
  }
  const created: string[] = [];
  try {
    for (const p of plans) {
      await writeKeyFile(p.path, p.text, p.mode, { force });
      created.push(p.path);
    }
  } catch (err) {
    if (!force) { for (const path of created) await Deno.remove(path).catch(() => {}); }
    if (err instanceof KeyFileError) throw new CliError(err.message);
    throw err;
  }
}

/** Generates and writes the server's X25519 and Ed25519 key pairs into `dir`. */
export async function keygenServer(
  dir: string,
  force = false,
  passphrase?: string,
): Promise<ServerKeygenResult> {
  const base = resolve(dir);
  const x = generateKeyPairSync("x25519");
  const e = generateKeyPairSync("ed25519");
  const files = {
    x25519_private: `${base}/server.x25519.pem`,
    x25519_public: `${base}/server.x25519.pub.pem`,
    ed25519_private: `${base}/server.ed25519.pem`,
    ed25519_public: `${base}/server.ed25519.pub.pem`,
  };
  await writeAll([
    { path: files.x25519_private, text: secretPem(x.privateKey, passphrase), mode: PRIVATE_MODE },
    { path: files.x25519_public, text: pem(x.publicKey, "spki"), mode: PUBLIC_MODE },
    { path: files.ed25519_private, text: secretPem(e.privateKey, passphrase), mode: PRIVATE_MODE },
    { path: files.ed25519_public, text: pem(e.publicKey, "spki"), mode: PUBLIC_MODE },
  ], force);
  return {
    files,
    public_keys: { x25519: rawPublic(x.publicKey), ed25519: rawPublic(e.publicKey) },
  };
}

/** A private key as PKCS#8 PEM, encrypted when a passphrase is given. */
function secretPem(key: KeyObject, passphrase: string | undefined): string {
  return passphrase === undefined ? pem(key, "pkcs8") : encryptedPem(key, passphrase);
}

/**
 * The passphrase of `keygen server --encrypt`: from `--passphrase-file`, else the
 * environment variable SIGLATCH_KEY_PASSPHRASE. Never from an argument (it would show in
 * `ps`).
 */
async function encryptPassphrase(file: string | undefined): Promise<string> {
  const text = file !== undefined
    ? await Deno.readTextFile(file).catch(() => {
      throw new CliError(`--passphrase-file ${file}: cannot read it`);
    })
    : Deno.env.get(PASSPHRASE_ENV);
  const pass = text?.replace(/\r?\n$/, "");
  if (!pass) {
    throw new UsageError(
      `--encrypt needs a passphrase: --passphrase-file FILE or ${PASSPHRASE_ENV} in the environment`,
    );
  }
  return pass;
}

/** Environment variable `keygen server --encrypt` reads the passphrase from. */
export const PASSPHRASE_ENV = "SIGLATCH_KEY_PASSPHRASE";

/** Validates a user name with the config schema's rule; throws UsageError otherwise. */
export function validateUserName(name: string): string {
  const parsed = UserSchema.shape.name.safeParse(name);
  if (!parsed.success) {
    throw new UsageError(
      `invalid user name ${JSON.stringify(name)}: ${parsed.error.issues[0].message}`,
    );
  }
  return parsed.data;
}

/** Parses `--id`: an integer 1..4294967295; throws UsageError otherwise. */
export function parseUserId(text: string | undefined): number | null {
  if (text === undefined) return null;
  const n = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) {
    throw new UsageError(`--id ${text}: expected an integer 1..4294967295`);
  }
  return n;
}

/** Generates and writes a user's HMAC key and Ed25519 key pair into `dir`. */
export async function keygenUser(
  name: string,
  dir: string,
  id: number | null,
  force = false,
): Promise<UserKeygenResult> {
  validateUserName(name);
  const base = resolve(dir);
  const e = generateKeyPairSync("ed25519");
  const files = {
    hmac: `${base}/${name}.hmac`,
    ed25519_private: `${base}/${name}.ed25519.pem`,
    ed25519_public: `${base}/${name}.ed25519.pub.pem`,
  };
  await writeAll([
    { path: files.hmac, text: formatHmacKey(new Uint8Array(randomBytes(32))), mode: PRIVATE_MODE },
    { path: files.ed25519_private, text: pem(e.privateKey, "pkcs8"), mode: PRIVATE_MODE },
    { path: files.ed25519_public, text: pem(e.publicKey, "spki"), mode: PUBLIC_MODE },
  ], force);
  return {
    name,
    id,
    files,
    public_keys: { ed25519: rawPublic(e.publicKey) },
    give_to_user: [files.hmac, files.ed25519_private],
    keep_on_server: [files.hmac, files.ed25519_public],
  };
}

function yamlString(s: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(s) ? s : JSON.stringify(s);
}

function serverText(r: ServerKeygenResult): string {
  const f = r.files;
  return [
    `wrote ${f.x25519_private}  (X25519 private key, 0600: never leaves the server)`,
    `wrote ${f.x25519_public}  (X25519 public key, 0644)`,
    `wrote ${f.ed25519_private}  (Ed25519 identity key, 0600: never leaves the server)`,
    `wrote ${f.ed25519_public}  (Ed25519 identity public key, 0644)`,
    "",
    "# siglatchd.yaml, in your entry under servers:",
    `    key_file: ${yamlString(f.x25519_private)}`,
    `    identity_key_file: ${yamlString(f.ed25519_private)}`,
    "# then `siglatch keygen cert --config siglatchd.yaml` prints the identity pin",
    "",
    "# client profiles (siglatch send --profile), the server's public key:",
    `server_public_key: ${r.public_keys.x25519}`,
    "",
  ].join("\n");
}

function userText(r: UserKeygenResult): string {
  const f = r.files;
  const id = r.id === null
    ? "ID  # choose an id 1..4294967295 no other user has (or pass --id)"
    : String(r.id);
  return [
    `wrote ${f.hmac}  (HMAC key, 0600: secret, shared by user and server)`,
    `wrote ${f.ed25519_private}  (Ed25519 private key, 0600: secret, user only)`,
    `wrote ${f.ed25519_public}  (Ed25519 public key, 0644: server)`,
    "",
    "# siglatchd.yaml, under users:",
    `  - id: ${id}`,
    `    name: ${r.name}`,
    `    hmac_key_file: ${yamlString(f.hmac)}`,
    `    ed25519_public_key_file: ${yamlString(f.ed25519_public)}`,
    "    actions: []  # names or ids of the actions this user may run",
    "",
    "# give to the user (over a secure channel), for their client profile:",
    `#   ${f.hmac}  -> hmac_key_file  (or instead:)`,
    `#   ${f.ed25519_private}  -> ed25519_key_file`,
    "# keep on the server (referred to by the users: entry above):",
    `#   ${f.hmac}`,
    `#   ${f.ed25519_public}`,
    "# Use one of the two: with HMAC only, delete the Ed25519 files and the",
    "# ed25519_public_key_file line; with Ed25519 only, delete the .hmac file and its line.",
    "",
  ].join("\n");
}

function print(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text));
}

/** Registers the `keygen` subcommand with its `server` and `user` subcommands. */
export function register(program: Command): void {
  const keygen = program.command("keygen")
    .description("make key files for a server or a user (private 0600, public 0644)")
    .addHelpText(
      "after",
      `
Examples:
  siglatch keygen server /etc/siglatch/keys
  siglatch keygen user alice /etc/siglatch/keys/users --id 1001
  siglatch keygen user alice ./alice --id 1001 --json

Existing files are never replaced unless --force is given (then atomically).
Exit status: 0 ok, 1 failure (e.g. a file exists), 2 usage error.`,
    );

  keygen.argument("[subcommand...]").usage("server DIR | user NAME DIR [options]").action(
    (rest: string[]) => {
      if (rest.length > 0) {
        throw new UsageError(`unknown keygen subcommand '${rest[0]}': expected server or user`);
      }
      keygen.outputHelp({ error: true });
      throw new UsageError("keygen needs a subcommand: server or user");
    },
  );

  registerCert(keygen);

  keygen.command("server")
    .summary("make the server's X25519 sealing key and Ed25519 identity key")
    .argument("<dir>", "directory for the key files (created 0700 if missing)")
    .description(
      "make the server's X25519 key (sealing) and Ed25519 identity key:\n" +
        "DIR/server.x25519.pem (0600), DIR/server.x25519.pub.pem (0644),\n" +
        "DIR/server.ed25519.pem (0600), DIR/server.ed25519.pub.pem (0644)",
    )
    .option("-f, --force", "replace existing key files")
    .option("--json", "print paths and public keys as JSON")
    .option("--encrypt", `encrypt the private keys (PKCS#8, AES-256) with a passphrase`)
    .option("--passphrase-file <file>", `passphrase for --encrypt (else $${PASSPHRASE_ENV})`)
    .addHelpText(
      "after",
      `
Prints the key_file and identity_key_file lines for siglatchd.yaml and the server's
public key (base64) for client profiles; \`keygen cert\` then signs the key with the
identity for profiles that pin it.

Examples:
  siglatch keygen server /etc/siglatch/keys
  siglatch keygen server ./keys --json`,
    )
    .action(async (
      dir: string,
      opts: KeygenFlags & { encrypt?: boolean; passphraseFile?: string },
    ) => {
      const pass = opts.encrypt ? await encryptPassphrase(opts.passphraseFile) : undefined;
      const r = await keygenServer(dir, opts.force ?? false, pass);
      print(opts.json ? JSON.stringify({ kind: "server", ...r }) + "\n" : serverText(r));
    });

  keygen.command("user")
    .summary("make a user's HMAC key and Ed25519 key pair")
    .argument("<name>", "user name as in the config (letters, digits, _ . -; max 64)")
    .argument("<dir>", "directory for the key files (created 0700 if missing)")
    .description(
      "make a user's HMAC key and Ed25519 key pair:\n" +
        "DIR/NAME.hmac (0600), DIR/NAME.ed25519.pem (0600), DIR/NAME.ed25519.pub.pem (0644)",
    )
    .option("--id <n>", "user id to put in the printed users: entry (1..4294967295)")
    .option("-f, --force", "replace existing key files")
    .option("--json", "print paths and public keys as JSON")
    .addHelpText(
      "after",
      `
Prints the users: entry for siglatchd.yaml, the files to give to the user
(NAME.hmac, NAME.ed25519.pem) and those the server keeps (NAME.hmac, NAME.ed25519.pub.pem).

Examples:
  siglatch keygen user alice /etc/siglatch/users --id 1001
  siglatch keygen user ci-deploy ./keys --id 7 --json`,
    )
    .action(async (name: string, dir: string, opts: KeygenFlags & { id?: string }) => {
      validateUserName(name);
      const id = parseUserId(opts.id);
      const r = await keygenUser(name, dir, id, opts.force ?? false);
      print(opts.json ? JSON.stringify({ kind: "user", ...r }) + "\n" : userText(r));
    });
}

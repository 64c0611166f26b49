/**
 * Server keys at rest: a PEM from a file or from a secret manager's CLI (`key_command`),
 * plain or passphrase-encrypted PKCS#8, with the passphrase from a file, an environment
 * variable or a systemd credential (`$CREDENTIALS_DIRECTORY/NAME`, as `LoadCredential=` and
 * `LoadCredentialEncrypted=` provide it).
 *
 * No error this module throws carries a secret: not the passphrase, not the command's
 * output, not its stderr (a secret manager may echo what it holds there).
 * @module
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import {
  checkPrivateKeyMode,
  MAX_KEY_FILE_BYTES,
  readKeyFileBytes,
  type ServerKey,
} from "./keyfile.ts";

/** Where a passphrase comes from (exactly one). */
export interface PassphraseSource {
  /** A file holding it (one trailing newline is dropped). */
  file?: string;
  /** An environment variable holding it. */
  env?: string;
  /** A systemd credential name: the file `$CREDENTIALS_DIRECTORY/NAME`. */
  credential?: string;
}

/** Where a server key comes from. */
export interface ServerKeySource {
  /** PEM file (mode 0600). */
  key_file?: string;
  /** argv of a command that prints the PEM on stdout (no shell). */
  key_command?: string[];
  /** Passphrase of an encrypted PKCS#8 PEM. */
  key_passphrase?: PassphraseSource;
}

/** Longest a key command may run. */
export const KEY_COMMAND_TIMEOUT_MS = 30_000;

/** A key that could not be loaded; the message names the source, never a secret. */
export class KeySourceError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "KeySourceError";
  }
}

function dropNewline(text: string): string {
  return text.replace(/\r?\n$/, "");
}

/** Reads the passphrase `src` names. */
export async function readPassphrase(src: PassphraseSource): Promise<string> {
  if (src.file !== undefined) {
    await checkPrivateKeyMode(src.file);
    return dropNewline(new TextDecoder().decode(await readKeyFileBytes(src.file)));
  }
  if (src.env !== undefined) {
    const v = Deno.env.get(src.env);
    if (v === undefined || v === "") {
      throw new KeySourceError(`passphrase: environment variable ${src.env} is not set`);
    }
    return v;
  }
  if (src.credential !== undefined) {
    const dir = Deno.env.get("CREDENTIALS_DIRECTORY");
    if (!dir) {
      throw new KeySourceError(
        `passphrase: credential ${src.credential}: CREDENTIALS_DIRECTORY is not set ` +
          "(start siglatchd from a systemd unit with LoadCredentialEncrypted=)",
      );
    }
    const path = `${dir}/${src.credential}`;
    return dropNewline(new TextDecoder().decode(await readKeyFileBytes(path)));
  }
  throw new KeySourceError("passphrase: give file, env or credential");
}

/** Runs `argv` and returns its stdout (bounded); errors say how it failed, not what it said. */
export async function runKeyCommand(argv: string[]): Promise<string> {
  const name = argv[0];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "not found" : "could not start";
    throw new KeySourceError(`key_command ${name}: ${why}`);
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, KEY_COMMAND_TIMEOUT_MS);
  try {
    const out = await child.output();
    if (out.signal) throw new KeySourceError(`key_command ${name}: killed by ${out.signal}`);
    if (out.code !== 0) {
      throw new KeySourceError(
        `key_command ${name}: exited with code ${out.code} (its output is not shown: it may ` +
          "hold secrets; run it by hand to see why)",
      );
    }
    if (out.stdout.length === 0) throw new KeySourceError(`key_command ${name}: printed nothing`);
    if (out.stdout.length > MAX_KEY_FILE_BYTES) {
      throw new KeySourceError(
        `key_command ${name}: printed more than ${MAX_KEY_FILE_BYTES} bytes`,
      );
    }
    return new TextDecoder().decode(out.stdout);
  } finally {
    clearTimeout(timer);
  }
}

function raw(key: KeyObject, field: "d" | "x", where: string): Uint8Array {
  const v = (key.export({ format: "jwk" }) as Record<string, unknown>)[field];
  if (typeof v !== "string") throw new KeySourceError(`${where}: key has no "${field}"`);
  const bytes = Uint8Array.fromBase64(v.replace(/-/g, "+").replace(/_/g, "/"));
  if (bytes.length !== 32) throw new KeySourceError(`${where}: key component is not 32 bytes`);
  return bytes;
}

/**
 * Parses a server key PEM (plain or encrypted PKCS#8) of the kind `algo`. `where` names the
 * source in errors. A wrong passphrase is said plainly.
 */
export function parsePrivatePem(
  text: string,
  where: string,
  algo: "x25519" | "ed25519",
  passphrase?: string,
): KeyObject {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  if (label === undefined) throw new KeySourceError(`${where}: not a PEM private key`);
  const encrypted = label === "ENCRYPTED PRIVATE KEY";
  if (encrypted && passphrase === undefined) {
    throw new KeySourceError(
      `${where}: the key is encrypted; give key_passphrase (file, env or credential)`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(
      encrypted ? { key: text, format: "pem", passphrase } : { key: text, format: "pem" },
    );
  } catch {
    throw new KeySourceError(
      encrypted
        ? `${where}: wrong passphrase (the encrypted key did not decrypt)`
        : `${where}: not a PEM private key that could be parsed`,
    );
  }
  if (key.asymmetricKeyType !== algo) {
    throw new KeySourceError(
      `${where}: expected an ${algo === "x25519" ? "X25519" : "Ed25519"} private key, ` +
        `found ${key.asymmetricKeyType ?? "another kind"}`,
    );
  }
  return key;
}

/** Reads the PEM text of a source: its file or its command's output. */
export async function readSourcePem(
  src: ServerKeySource,
): Promise<{ text: string; where: string }> {
  if (src.key_command !== undefined) {
    return {
      text: await runKeyCommand(src.key_command),
      where: `key_command ${src.key_command[0]}`,
    };
  }
  if (src.key_file === undefined) throw new KeySourceError("give key_file or key_command");
  await checkPrivateKeyMode(src.key_file);
  const bytes = await readKeyFileBytes(src.key_file);
  return { text: new TextDecoder().decode(bytes), where: `key file ${src.key_file}` };
}

/** Loads a server X25519 key from its source (file or command; plain or encrypted). */
export async function loadServerKey(src: ServerKeySource): Promise<ServerKey> {
  const { text, where } = await readSourcePem(src);
  const passphrase = src.key_passphrase ? await readPassphrase(src.key_passphrase) : undefined;
  const key = parsePrivatePem(text, where, "x25519", passphrase);
  return { x25519Private: raw(key, "d", where), x25519Public: raw(key, "x", where) };
}

/** Encrypts a private key as PKCS#8 PEM (AES-256-CBC, PBKDF2: node's default PBES2). */
export function encryptedPem(key: KeyObject, passphrase: string): string {
  if (passphrase.length === 0) throw new KeySourceError("an empty passphrase encrypts nothing");
  return key.export({
    type: "pkcs8",
    format: "pem",
    cipher: "aes-256-cbc",
    passphrase,
  }).toString();
}

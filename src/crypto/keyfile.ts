/**
 * Key files on disk: reading the server's X25519 and Ed25519 keys, users' HMAC and
 * Ed25519 keys, and writing new key files with the right mode from the start.
 *
 * Formats:
 * - X25519 / Ed25519 private keys: PEM, PKCS#8 (`-----BEGIN PRIVATE KEY-----`), mode 0600.
 * - X25519 / Ed25519 public keys: PEM, SPKI (`-----BEGIN PUBLIC KEY-----`), or one line of
 *   base64 holding the 32 raw bytes.
 * - HMAC keys: base64 of 32 bytes (44 characters, optional trailing newline) or exactly
 *   32 raw bytes, mode 0600.
 *
 * Private key files that group or others can access are refused, as ssh does.
 * Every failure is a {@linkcode KeyFileError} naming the file.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";

/** Largest key file we read (bytes); a PEM key of any type we accept is far below it. */
export const MAX_KEY_FILE_BYTES = 16 * 1024;

/** Length of every raw key this module returns (X25519, Ed25519, HMAC). */
export const RAW_KEY_LENGTH = 32;

/** A key file that is missing, unreadable, too open, too big or not the expected key. */
export class KeyFileError extends Error {
  /** The file at fault. */
  readonly path: string;
  /** Creates an error whose message is `key file PATH: DETAIL`. */
  constructor(path: string, detail: string, options?: ErrorOptions) {
    super(`key file ${path}: ${detail}`, options);
    this.name = "KeyFileError";
    this.path = path;
  }
}

/** Options of the private key readers. */
export interface PrivateKeyReadOptions {
  /** Refuse a file that group or others can access (default true). */
  checkMode?: boolean;
}

/** The server's X25519 key pair as raw bytes. */
export interface ServerKey {
  /** Raw X25519 private scalar (32 bytes). */
  x25519Private: Uint8Array;
  /** Raw X25519 public key (32 bytes). */
  x25519Public: Uint8Array;
}

/** An Ed25519 key pair as raw bytes. */
export interface Ed25519KeyPair {
  /** The 32-byte private seed (RFC 8032). */
  privateKey: Uint8Array;
  /** The 32-byte public key. */
  publicKey: Uint8Array;
}

/** Options of {@linkcode writeKeyFile}. */
export interface WriteKeyFileOptions {
  /** Replace an existing file (atomically) instead of failing. */
  force?: boolean;
}

function describeError(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.IsADirectory) return "is a directory";
  return err instanceof Error ? err.message : String(err);
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/**
 * Fails when group or others have any access to `path` (like ssh's "UNPROTECTED PRIVATE
 * KEY FILE"). Skipped where the platform reports no mode (Windows).
 * @throws {KeyFileError} when the file is missing or its mode is too open.
 */
export async function checkPrivateKeyMode(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    throw new KeyFileError(path, describeError(err), { cause: err });
  }
  if (info.mode === null) return;
  if ((info.mode & 0o077) !== 0) {
    throw new KeyFileError(
      path,
      `permissions ${octal(info.mode)} for '${path}' are too open: a private key must not be ` +
        `accessible by group or others; run chmod 600 ${path}`,
    );
  }
}

/**
 * Reads a whole key file, refusing anything that is not a regular file or is larger than
 * {@linkcode MAX_KEY_FILE_BYTES} (checked before reading, and again while reading).
 * @throws {KeyFileError} when missing, unreadable, not a file, empty or too big.
 */
export async function readKeyFileBytes(path: string): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw new KeyFileError(path, describeError(err), { cause: err });
  }
  try {
    const info = await file.stat();
    if (!info.isFile) throw new KeyFileError(path, "not a regular file");
    if (info.size > MAX_KEY_FILE_BYTES) {
      throw new KeyFileError(
        path,
        `${info.size} bytes is too large for a key file (limit ${MAX_KEY_FILE_BYTES})`,
      );
    }
    const buf = new Uint8Array(MAX_KEY_FILE_BYTES + 1);
    let used = 0;
    while (used < buf.length) {
      const n = await file.read(buf.subarray(used));
      if (n === null) break;
      used += n;
    }
    if (used > MAX_KEY_FILE_BYTES) {
      throw new KeyFileError(path, `too large for a key file (limit ${MAX_KEY_FILE_BYTES} bytes)`);
    }
    if (used === 0) throw new KeyFileError(path, "file is empty");
    return buf.slice(0, used);
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(path, describeError(err), { cause: err });
  } finally {
    file.close();
  }
}

async function readKeyText(path: string): Promise<string> {
  const bytes = await readKeyFileBytes(path);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new KeyFileError(path, "not a text file (expected a PEM key)");
  }
}

type KeyAlgo = "x25519" | "ed25519";
type KeyKind = "private" | "public";

const ALGO_NAMES: Record<string, string> = {
  x25519: "X25519",
  ed25519: "Ed25519",
  x448: "X448",
  ed448: "Ed448",
  rsa: "RSA",
  "rsa-pss": "RSA-PSS",
  ec: "EC",
  dsa: "DSA",
  dh: "DH",
};

/** "an X25519", "an Ed25519", "an RSA", "a DSA": initials read letter by letter. */
function article(word: string): string {
  return /^[AEFHILMNORSX]/.test(word) ? `an ${word}` : `a ${word}`;
}

function what(algo: string, kind: KeyKind): string {
  const name = ALGO_NAMES[algo] ?? algo.toUpperCase();
  return `${article(name)} ${kind} key`;
}

/** Parses PEM text into a key object, classifying it as private or public. */
function parsePem(path: string, text: string, expected: string): KeyObject {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  if (label === undefined) {
    throw new KeyFileError(path, `not a PEM file (no -----BEGIN line); expected ${expected}`);
  }
  if (label === "ENCRYPTED PRIVATE KEY") {
    throw new KeyFileError(path, `expected ${expected}, found an encrypted private key`);
  }
  if (label === "OPENSSH PRIVATE KEY") {
    throw new KeyFileError(
      path,
      `expected ${expected}, found an OpenSSH private key (use siglatch keygen)`,
    );
  }
  try {
    return label.includes("PRIVATE") ? createPrivateKey(text) : createPublicKey(text);
  } catch (err) {
    throw new KeyFileError(
      path,
      `PEM block "${label}" could not be parsed (${describeError(err)}); expected ${expected}`,
      { cause: err },
    );
  }
}

function jwkField(path: string, key: KeyObject, field: "d" | "x"): Uint8Array {
  const jwk = key.export({ format: "jwk" }) as Record<string, unknown>;
  const value = jwk[field];
  if (typeof value !== "string") throw new KeyFileError(path, `key has no "${field}" component`);
  const bytes = Uint8Array.fromBase64(value.replace(/-/g, "+").replace(/_/g, "/"));
  if (bytes.length !== RAW_KEY_LENGTH) {
    throw new KeyFileError(path, `key component is ${bytes.length} bytes, expected 32`);
  }
  return bytes;
}

/** Reads a PEM key of the given algorithm and kind; errors name what was found instead. */
async function readPemKey(path: string, algo: KeyAlgo, kind: KeyKind): Promise<KeyObject> {
  const expected = what(algo, kind);
  const key = parsePem(path, await readKeyText(path), expected);
  const foundKind: KeyKind = key.type === "private" ? "private" : "public";
  const foundAlgo = key.asymmetricKeyType ?? "unknown";
  if (foundAlgo !== algo || foundKind !== kind) {
    let hint = "";
    if (foundAlgo === algo && kind === "public") {
      hint = " (give the .pub.pem file; a private key must not leave its host)";
    } else if (foundAlgo === algo && kind === "private") hint = " (give the private .pem file)";
    throw new KeyFileError(
      path,
      `expected ${expected}, found ${what(foundAlgo, foundKind)}${hint}`,
    );
  }
  return key;
}

/** Reads a public key given as PEM (SPKI) or one line of base64 of the raw 32 bytes. */
async function readPublicKey(path: string, algo: KeyAlgo): Promise<Uint8Array> {
  const text = await readKeyText(path);
  const line = text.trim();
  if (!line.includes("-----")) {
    if (/^[A-Za-z0-9+/]{43}=$/.test(line)) return Uint8Array.fromBase64(line);
    throw new KeyFileError(
      path,
      `expected ${what(algo, "public")} as PEM (SPKI) or one line of base64 of 32 bytes`,
    );
  }
  return jwkField(path, await readPemKey(path, algo, "public"), "x");
}

/**
 * Reads the server's X25519 private key (PEM, PKCS#8; mode 0600) and derives its public key.
 * @throws {KeyFileError} when missing, too open, not PEM or not an X25519 private key.
 */
export async function readServerKey(
  path: string,
  options: PrivateKeyReadOptions = {},
): Promise<ServerKey> {
  if (options.checkMode ?? true) await checkPrivateKeyMode(path);
  const key = await readPemKey(path, "x25519", "private");
  return { x25519Private: jwkField(path, key, "d"), x25519Public: jwkField(path, key, "x") };
}

/**
 * Reads an X25519 public key: PEM (SPKI) or one line of base64 of the 32 raw bytes.
 * @throws {KeyFileError} when missing or not an X25519 public key.
 */
export function readX25519PublicKey(path: string): Promise<Uint8Array> {
  return readPublicKey(path, "x25519");
}

/**
 * Reads an Ed25519 private key (PEM, PKCS#8; mode 0600): its 32-byte seed and public key.
 * @throws {KeyFileError} when missing, too open, not PEM or not an Ed25519 private key.
 */
export async function readEd25519Private(
  path: string,
  options: PrivateKeyReadOptions = {},
): Promise<Ed25519KeyPair> {
  if (options.checkMode ?? true) await checkPrivateKeyMode(path);
  const key = await readPemKey(path, "ed25519", "private");
  return { privateKey: jwkField(path, key, "d"), publicKey: jwkField(path, key, "x") };
}

/**
 * Reads an Ed25519 public key: PEM (SPKI) or one line of base64 of the 32 raw bytes.
 * @throws {KeyFileError} when missing or not an Ed25519 public key.
 */
export function readEd25519Public(path: string): Promise<Uint8Array> {
  return readPublicKey(path, "ed25519");
}

/**
 * Reads a 32-byte HMAC key (mode 0600): base64 (44 characters, optional trailing newline)
 * or exactly 32 raw bytes.
 * @throws {KeyFileError} when missing, too open, or anything else.
 */
export async function readHmacKey(
  path: string,
  options: PrivateKeyReadOptions = {},
): Promise<Uint8Array> {
  if (options.checkMode ?? true) await checkPrivateKeyMode(path);
  const bytes = await readKeyFileBytes(path);
  if (bytes.length === RAW_KEY_LENGTH) return bytes;
  const text = new TextDecoder().decode(bytes).replace(/\r?\n$/, "");
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Uint8Array.fromBase64(text);
  throw new KeyFileError(
    path,
    `not an HMAC key: expected base64 of 32 bytes (44 characters, e.g. from ` +
      `siglatch keygen user) or exactly 32 raw bytes, found ${bytes.length} bytes`,
  );
}

/** Formats a new HMAC key file's contents: base64 of the 32 bytes and a newline. */
export function formatHmacKey(key: Uint8Array): string {
  if (key.length !== RAW_KEY_LENGTH) throw new RangeError("an HMAC key is 32 bytes");
  return `${key.toBase64()}\n`;
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Ensures `dir` exists, creating it (and missing parents) with mode 0700.
 * @throws {KeyFileError} when it cannot be created or is not a directory.
 */
export async function ensureKeyDir(dir: string): Promise<void> {
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw new KeyFileError(dir, "exists and is not a directory");
    return;
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new KeyFileError(dir, describeError(err), { cause: err });
    }
  }
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
  } catch (err) {
    throw new KeyFileError(dir, `cannot create directory: ${describeError(err)}`, { cause: err });
  }
}

/**
 * Writes a key file atomically with `mode` from its creation on: the text goes to a new
 * temporary file in the same directory (created with `mode`, then chmod'ed to exactly
 * `mode` whatever the umask), which is synced and then linked into place (fails if `path`
 * exists) or, with `force`, renamed over it. The parent directory is created 0700 if
 * missing. Readers never see a partial file.
 * @throws {KeyFileError} when `path` exists (without `force`) or cannot be written.
 */
export async function writeKeyFile(
  path: string,
  text: string,
  mode: number,
  options: WriteKeyFileOptions = {},
): Promise<void> {
  await ensureKeyDir(dirname(path));
  if (!options.force && await exists(path)) {
    throw new KeyFileError(path, "already exists (use --force to replace it)");
  }
  const rand = crypto.getRandomValues(new Uint8Array(6)).toBase64().replace(/[+/=]/g, "_");
  const base = path.slice(path.lastIndexOf("/") + 1);
  const tmp = `${dirname(path)}/.${base}.${rand}.tmp`;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode });
    try {
      await Deno.chmod(tmp, mode);
      const data = new TextEncoder().encode(text);
      let written = 0;
      while (written < data.length) written += await file.write(data.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    if (options.force) {
      await Deno.rename(tmp, path);
    } else {
      try {
        await Deno.link(tmp, path);
      } finally {
        await Deno.remove(tmp).catch(() => {});
      }
    }
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    if (err instanceof Deno.errors.AlreadyExists) {
      throw new KeyFileError(path, "already exists (use --force to replace it)", { cause: err });
    }
    throw new KeyFileError(path, `cannot write: ${describeError(err)}`, { cause: err });
  }
}

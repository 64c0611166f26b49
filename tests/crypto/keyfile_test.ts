/**
 * Key file readers and writer: the happy paths, every error message, file modes, size
 * limits, and interop with keys made by openssl.
 */
import assert from "node:assert/strict";
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import {
  checkPrivateKeyMode,
  formatHmacKey,
  KeyFileError,
  MAX_KEY_FILE_BYTES,
  readEd25519Private,
  readEd25519Public,
  readHmacKey,
  readServerKey,
  readX25519PublicKey,
  writeKeyFile,
} from "../../src/crypto/keyfile.ts";
import { NOBODY, runDenoAs } from "../_helpers/as_user.ts";

const OPENSSL = "/usr/bin/openssl";
const hasOpenssl = await Deno.stat(OPENSSL).then((i) => i.isFile, () => false);
if (!hasOpenssl) console.log(`keyfile_test: openssl tests skipped: ${OPENSSL} not found`);

async function isRoot(): Promise<boolean> {
  const out = await new Deno.Command("id", { args: ["-u"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim() === "0";
}
const root = await isRoot();

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-keyfile-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function put(path: string, data: string | Uint8Array, mode = 0o600): Promise<string> {
  if (typeof data === "string") await Deno.writeTextFile(path, data, { mode });
  else await Deno.writeFile(path, data, { mode });
  await Deno.chmod(path, mode);
  return path;
}

function pemOf(key: KeyObject): string {
  return key.type === "private"
    ? key.export({ type: "pkcs8", format: "pem" }).toString()
    : key.export({ type: "spki", format: "pem" }).toString();
}

function jwkBytes(key: KeyObject, field: "d" | "x"): Uint8Array {
  const v = (key.export({ format: "jwk" }) as Record<string, string>)[field];
  return Uint8Array.fromBase64(v.replace(/-/g, "+").replace(/_/g, "/"));
}

/** PKCS#8 DER prefixes (RFC 8410) for a raw 32-byte private key. */
const PKCS8_PREFIX = {
  x25519: "302e020100300506032b656e04220420",
  ed25519: "302e020100300506032b657004220420",
};

/** Derives the public key from a raw private key with node:crypto, independently of keyfile.ts. */
function publicFromRaw(algo: "x25519" | "ed25519", raw: Uint8Array): Uint8Array {
  const prefix = Uint8Array.fromHex(PKCS8_PREFIX[algo]);
  const der = new Uint8Array(prefix.length + raw.length);
  der.set(prefix);
  der.set(raw, prefix.length);
  const priv = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
  return jwkBytes(createPublicKey(priv), "x");
}

async function rejects(p: Promise<unknown>, path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof KeyFileError, `expected KeyFileError, got ${err}`);
    assert.equal(err.path, path);
    assert.ok(err.message.includes(path), `message names the file: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("readServerKey returns raw X25519 private and matching public key", async () => {
  await withDir(async (dir) => {
    const kp = generateKeyPairSync("x25519");
    const path = await put(`${dir}/server.pem`, pemOf(kp.privateKey));
    const k = await readServerKey(path);
    assert.equal(k.x25519Private.length, 32);
    assert.equal(k.x25519Public.length, 32);
    assert.deepEqual(k.x25519Private, jwkBytes(kp.privateKey, "d"));
    assert.deepEqual(k.x25519Public, jwkBytes(kp.publicKey, "x"));
    assert.deepEqual(publicFromRaw("x25519", k.x25519Private), k.x25519Public);
  });
});

Deno.test("readX25519PublicKey reads SPKI PEM and one-line base64", async () => {
  await withDir(async (dir) => {
    const kp = generateKeyPairSync("x25519");
    const raw = jwkBytes(kp.publicKey, "x");
    const pem = await put(`${dir}/pub.pem`, pemOf(kp.publicKey), 0o644);
    assert.deepEqual(await readX25519PublicKey(pem), raw);
    const b64 = await put(`${dir}/pub.b64`, `${raw.toBase64()}\n`, 0o644);
    assert.deepEqual(await readX25519PublicKey(b64), raw);
    const bad = await put(`${dir}/pub.bad`, "AAAA\n", 0o644);
    await rejects(readX25519PublicKey(bad), bad, /PEM \(SPKI\) or one line of base64 of 32 bytes/);
  });
});

Deno.test("readEd25519Private returns the seed and public key; readEd25519Public agrees", async () => {
  await withDir(async (dir) => {
    const kp = generateKeyPairSync("ed25519");
    const priv = await put(`${dir}/u.pem`, pemOf(kp.privateKey));
    const pub = await put(`${dir}/u.pub.pem`, pemOf(kp.publicKey), 0o644);
    const pair = await readEd25519Private(priv);
    assert.equal(pair.privateKey.length, 32);
    assert.deepEqual(pair.privateKey, jwkBytes(kp.privateKey, "d"));
    assert.deepEqual(pair.publicKey, jwkBytes(kp.publicKey, "x"));
    assert.deepEqual(publicFromRaw("ed25519", pair.privateKey), pair.publicKey);
    assert.deepEqual(await readEd25519Public(pub), pair.publicKey);
    const b64 = await put(`${dir}/u.pub.b64`, pair.publicKey.toBase64(), 0o644);
    assert.deepEqual(await readEd25519Public(b64), pair.publicKey);
  });
});

Deno.test("readers name the key type they expected and the one they found", async () => {
  await withDir(async (dir) => {
    const x = generateKeyPairSync("x25519");
    const e = generateKeyPairSync("ed25519");
    const xPriv = await put(`${dir}/x.pem`, pemOf(x.privateKey));
    const xPub = await put(`${dir}/x.pub.pem`, pemOf(x.publicKey));
    const ePriv = await put(`${dir}/e.pem`, pemOf(e.privateKey));
    const ePub = await put(`${dir}/e.pub.pem`, pemOf(e.publicKey));
    await rejects(
      readServerKey(ePub),
      ePub,
      /expected an X25519 private key, found an Ed25519 public key/,
    );
    await rejects(
      readServerKey(ePriv),
      ePriv,
      /expected an X25519 private key, found an Ed25519 private key/,
    );
    await rejects(
      readServerKey(xPub),
      xPub,
      /expected an X25519 private key, found an X25519 public key/,
    );
    await rejects(
      readX25519PublicKey(xPriv),
      xPriv,
      /expected an X25519 public key, found an X25519 private key \(give the \.pub\.pem file/,
    );
    await rejects(
      readEd25519Private(xPriv),
      xPriv,
      /expected an Ed25519 private key, found an X25519 private key/,
    );
    await rejects(
      readEd25519Public(xPub),
      xPub,
      /expected an Ed25519 public key, found an X25519 public key/,
    );
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const rsaPath = await put(
      `${dir}/rsa.pem`,
      rsa.privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    );
    await rejects(readServerKey(rsaPath), rsaPath, /found an RSA private key/);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const ecPath = await put(`${dir}/ec.pub.pem`, pemOf(ec.publicKey));
    await rejects(readEd25519Public(ecPath), ecPath, /found an EC public key/);
  });
});

Deno.test("readers reject missing files, directories, garbage, empty and oversized files", async () => {
  await withDir(async (dir) => {
    const missing = `${dir}/nope.pem`;
    await rejects(readServerKey(missing), missing, /no such file/);
    await rejects(readX25519PublicKey(missing), missing, /no such file/);
    await rejects(readEd25519Public(missing), missing, /no such file/);
    await rejects(readHmacKey(missing), missing, /no such file/);
    await rejects(readServerKey(dir, { checkMode: false }), dir, /not a regular file/);

    const text = await put(`${dir}/text.pem`, "hello world\n");
    await rejects(readServerKey(text), text, /not a PEM file .*expected an X25519 private key/);
    const bogus = await put(
      `${dir}/bogus.pem`,
      "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n",
    );
    await rejects(readServerKey(bogus), bogus, /PEM block "PRIVATE KEY" could not be parsed/);
    const enc = await put(
      `${dir}/enc.pem`,
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    await rejects(readServerKey(enc), enc, /found an encrypted private key/);
    const binary = await put(`${dir}/bin.pem`, new Uint8Array([0xff, 0xfe, 0x00, 0x80]));
    await rejects(readServerKey(binary), binary, /not a text file/);
    const empty = await put(`${dir}/empty.pem`, "");
    await rejects(readServerKey(empty), empty, /file is empty/);
    const big = await put(`${dir}/big.pem`, "A".repeat(MAX_KEY_FILE_BYTES + 1));
    await rejects(readServerKey(big), big, /too large for a key file \(limit 16384\)/);
    await rejects(readHmacKey(big), big, /too large/);
  });
});

Deno.test("an unreadable key file is reported as permission denied", async () => {
  await withDir(async (dir) => {
    const path = await put(`${dir}/locked.pem`, pemOf(generateKeyPairSync("x25519").privateKey));
    await Deno.chmod(path, 0o000);
    if (!root) return await rejects(readServerKey(path), path, /permission denied/);
    // Root reads any file: ask nobody, with a copy of the reader it can load.
    await Deno.chmod(dir, 0o755);
    const r = await runDenoAs(NOBODY, [
      "eval",
      `import { KeyFileError, readServerKey } from "./src/crypto/keyfile.ts";
       try { await readServerKey(${JSON.stringify(path)}); console.log("read it"); }
       catch (e) { console.log(e instanceof KeyFileError, e.path, e.message); }`,
    ], { files: ["src/crypto/keyfile.ts"] });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^true ${path} .*${path}.*permission denied`, "s"));
  });
});

Deno.test("private key readers refuse files group or others can access, like ssh", async () => {
  await withDir(async (dir) => {
    const x = await put(`${dir}/x.pem`, pemOf(generateKeyPairSync("x25519").privateKey), 0o644);
    const e = await put(`${dir}/e.pem`, pemOf(generateKeyPairSync("ed25519").privateKey), 0o640);
    const h = await put(`${dir}/h.hmac`, formatHmacKey(new Uint8Array(32)), 0o604);
    await rejects(
      readServerKey(x),
      x,
      new RegExp(`permissions 0644 for '${x}' are too open.*run chmod 600 ${x}`),
    );
    await rejects(readEd25519Private(e), e, /permissions 0640 for .* are too open/);
    await rejects(readHmacKey(h), h, /permissions 0604 for .* are too open/);
    await rejects(checkPrivateKeyMode(x), x, /too open/);
    // Opt-out, and owner-only modes are fine.
    assert.equal((await readServerKey(x, { checkMode: false })).x25519Private.length, 32);
    await Deno.chmod(x, 0o400);
    await checkPrivateKeyMode(x);
    assert.equal((await readServerKey(x)).x25519Public.length, 32);
    await rejects(checkPrivateKeyMode(`${dir}/none`), `${dir}/none`, /no such file/);
  });
});

Deno.test("readHmacKey accepts base64 (with or without newline) or 32 raw bytes only", async () => {
  await withDir(async (dir) => {
    const key = new Uint8Array(randomBytes(32));
    const b64 = key.toBase64();
    for (const [name, body] of [["nl", `${b64}\n`], ["bare", b64], ["crlf", `${b64}\r\n`]]) {
      assert.deepEqual(await readHmacKey(await put(`${dir}/${name}.hmac`, body)), key, name);
    }
    assert.deepEqual(await readHmacKey(await put(`${dir}/raw.hmac`, key)), key);
    const bad: [string, string | Uint8Array][] = [
      ["short-b64", b64.slice(1)],
      ["b64-of-16", `${(new Uint8Array(16)).toBase64()}\n`],
      ["raw-33", new Uint8Array(33)],
      ["two-newlines", `${b64}\n\n`],
      ["pem", pemOf(generateKeyPairSync("x25519").privateKey)],
      ["urlsafe", `${b64.replace(/[+/]/g, "-").replace(/=$/, "A")}\n`],
    ];
    for (const [name, body] of bad) {
      const path = await put(`${dir}/${name}.hmac`, body);
      await rejects(
        readHmacKey(path),
        path,
        /not an HMAC key: expected base64 of 32 bytes \(44 characters.*or exactly 32 raw bytes/,
      );
    }
  });
});

Deno.test("writeKeyFile creates the file with its mode, the parent 0700, and no leftovers", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/a/b/key.pem`;
    await writeKeyFile(path, "secret\n", 0o600);
    assert.equal(await Deno.readTextFile(path), "secret\n");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/a/b`)).mode! & 0o777, 0o700);
    await writeKeyFile(`${dir}/a/b/key.pub.pem`, "public\n", 0o644);
    assert.equal((await Deno.stat(`${dir}/a/b/key.pub.pem`)).mode! & 0o777, 0o644);
    const names = [];
    for await (const e of Deno.readDir(`${dir}/a/b`)) names.push(e.name);
    assert.deepEqual(names.sort(), ["key.pem", "key.pub.pem"]);
  });
});

Deno.test("writeKeyFile refuses an existing file unless force, then replaces it atomically", async () => {
  await withDir(async (dir) => {
    const path = await put(`${dir}/k.pem`, "old\n", 0o666);
    await rejects(writeKeyFile(path, "new\n", 0o600), path, /already exists \(use --force/);
    assert.equal(await Deno.readTextFile(path), "old\n");
    await writeKeyFile(path, "new\n", 0o600, { force: true });
    assert.equal(await Deno.readTextFile(path), "new\n");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["k.pem"]);
    // A parent that is a file is a clear error.
    await rejects(writeKeyFile(`${path}/x`, "y", 0o600), path, /not a directory/);
  });
});

Deno.test("readers accept keys made by openssl genpkey", { ignore: !hasOpenssl }, async () => {
  await withDir(async (dir) => {
    const run = async (args: string[]) => {
      const out = await new Deno.Command(OPENSSL, { args, stderr: "piped" }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    };
    await run(["genpkey", "-algorithm", "X25519", "-out", `${dir}/x.pem`]);
    await run(["pkey", "-in", `${dir}/x.pem`, "-pubout", "-out", `${dir}/x.pub.pem`]);
    await run(["genpkey", "-algorithm", "ED25519", "-out", `${dir}/e.pem`]);
    await run(["pkey", "-in", `${dir}/e.pem`, "-pubout", "-out", `${dir}/e.pub.pem`]);
    await Deno.chmod(`${dir}/x.pem`, 0o600);
    await Deno.chmod(`${dir}/e.pem`, 0o600);
    const server = await readServerKey(`${dir}/x.pem`);
    assert.deepEqual(await readX25519PublicKey(`${dir}/x.pub.pem`), server.x25519Public);
    assert.deepEqual(publicFromRaw("x25519", server.x25519Private), server.x25519Public);
    const ed = await readEd25519Private(`${dir}/e.pem`);
    assert.deepEqual(await readEd25519Public(`${dir}/e.pub.pem`), ed.publicKey);
    assert.deepEqual(publicFromRaw("ed25519", ed.privateKey), ed.publicKey);
  });
});

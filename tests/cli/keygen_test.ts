/**
 * `siglatch keygen` run as a real subprocess (`deno run ... main.ts keygen ...`) in temp
 * dirs: files and modes (also under umask 000 and 077), refusal to overwrite, --force,
 * bad arguments, --json, openssl acceptance, and keys that read back consistently.
 */
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey } from "node:crypto";
import {
  readEd25519Private,
  readEd25519Public,
  readHmacKey,
  readServerKey,
  readX25519PublicKey,
} from "../../src/crypto/keyfile.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const MAIN = `${REPO}main.ts`;
const OPENSSL = "/usr/bin/openssl";
const hasOpenssl = await Deno.stat(OPENSSL).then((i) => i.isFile, () => false);
if (!hasOpenssl) console.log(`keygen_test: openssl tests skipped: ${OPENSSL} not found`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `siglatch ARGS` as a subprocess, optionally under a given umask (via /bin/sh). */
async function siglatch(args: string[], umask?: string): Promise<Run> {
  const argv = ["run", "--allow-read", "--allow-write", "--allow-env", MAIN, ...args];
  const cmd = umask === undefined
    ? new Deno.Command(Deno.execPath(), { args: argv, cwd: REPO, stdout: "piped", stderr: "piped" })
    : new Deno.Command("/bin/sh", {
      args: ["-c", `umask ${umask} && exec "$0" "$@"`, Deno.execPath(), ...argv],
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
    });
  const out = await cmd.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function ok(r: Run): Run {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "siglatch-keygen-" }));
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await listDir(dir)) {
    if ((await Deno.stat(`${dir}/${name}`)).isFile) {
      out[name] = await Deno.readTextFile(`${dir}/${name}`);
    }
  }
  return out;
}

/** X25519 public key from a raw private key, derived with node:crypto (RFC 8410 PKCS#8). */
function x25519PublicFromRaw(raw: Uint8Array): Uint8Array {
  const der = new Uint8Array([
    ...[0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22],
    ...[0x04, 0x20],
    ...raw,
  ]);
  const priv = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
  const x = (createPublicKey(priv).export({ format: "jwk" }) as { x: string }).x;
  return Uint8Array.fromBase64(x.replace(/-/g, "+").replace(/_/g, "/"));
}

const SERVER_FILES = [
  ["server.ed25519.pem", 0o600],
  ["server.ed25519.pub.pem", 0o644],
  ["server.x25519.pem", 0o600],
  ["server.x25519.pub.pem", 0o644],
] as const;

const userFiles = (name: string) =>
  [
    [`${name}.ed25519.pem`, 0o600],
    [`${name}.ed25519.pub.pem`, 0o644],
    [`${name}.hmac`, 0o600],
  ] as const;

Deno.test("keygen server writes four PEM files with modes 0600/0644 and prints the config", async () => {
  await withDir(async (dir) => {
    const keys = `${dir}/keys`;
    const r = ok(await siglatch(["keygen", "server", keys]));
    assert.equal(await mode(keys), 0o700);
    assert.deepEqual(await listDir(keys), SERVER_FILES.map(([n]) => n));
    for (const [name, m] of SERVER_FILES) assert.equal(await mode(`${keys}/${name}`), m, name);

    const server = await readServerKey(`${keys}/server.x25519.pem`);
    assert.deepEqual(x25519PublicFromRaw(server.x25519Private), server.x25519Public);
    assert.deepEqual(
      await readX25519PublicKey(`${keys}/server.x25519.pub.pem`),
      server.x25519Public,
    );
    const id = await readEd25519Private(`${keys}/server.ed25519.pem`);
    assert.deepEqual(await readEd25519Public(`${keys}/server.ed25519.pub.pem`), id.publicKey);

    assert.match(r.stdout, new RegExp(`^\\s+key_file: ${keys}/server\\.x25519\\.pem$`, "m"));
    assert.match(
      r.stdout,
      new RegExp(`^\\s+identity_key_file: ${keys}/server\\.ed25519\\.pem$`, "m"),
    );
    const line = /^server_public_key: (\S+)$/m.exec(r.stdout);
    assert.ok(line, r.stdout);
    assert.equal(line[1], server.x25519Public.toBase64());
    assert.equal(r.stderr, "");
  });
});

Deno.test("keygen user writes the HMAC key and Ed25519 pair and says which file goes where", async () => {
  await withDir(async (dir) => {
    const r = ok(await siglatch(["keygen", "user", "alice", dir, "--id", "1001"]));
    assert.deepEqual(await listDir(dir), userFiles("alice").map(([n]) => n));
    for (const [name, m] of userFiles("alice")) assert.equal(await mode(`${dir}/${name}`), m, name);

    const hmacText = await Deno.readTextFile(`${dir}/alice.hmac`);
    assert.match(hmacText, /^[A-Za-z0-9+/]{43}=\n$/);
    assert.equal((await readHmacKey(`${dir}/alice.hmac`)).length, 32);
    const pair = await readEd25519Private(`${dir}/alice.ed25519.pem`);
    assert.deepEqual(await readEd25519Public(`${dir}/alice.ed25519.pub.pem`), pair.publicKey);

    assert.match(r.stdout, /^\s+- id: 1001$/m);
    assert.match(r.stdout, /^\s+name: alice$/m);
    assert.match(r.stdout, new RegExp(`^\\s+hmac_key_file: ${dir}/alice\\.hmac$`, "m"));
    assert.match(
      r.stdout,
      new RegExp(`^\\s+ed25519_public_key_file: ${dir}/alice\\.ed25519\\.pub\\.pem$`, "m"),
    );
    const give = r.stdout.slice(r.stdout.indexOf("give to the user"), r.stdout.indexOf("keep on"));
    const keep = r.stdout.slice(r.stdout.indexOf("keep on the server"));
    assert.ok(give.includes("alice.hmac") && give.includes("alice.ed25519.pem"), give);
    assert.ok(!give.includes("alice.ed25519.pub.pem"), give);
    assert.ok(keep.includes("alice.hmac") && keep.includes("alice.ed25519.pub.pem"), keep);
    assert.ok(!/alice\.ed25519\.pem/.test(keep), keep);
  });
});

Deno.test("keygen --json prints paths and public keys that match the files", async () => {
  await withDir(async (dir) => {
    const s = JSON.parse(ok(await siglatch(["keygen", "server", `${dir}/s`, "--json"])).stdout);
    assert.equal(s.kind, "server");
    assert.equal(s.files.x25519_private, `${dir}/s/server.x25519.pem`);
    assert.equal(s.files.ed25519_public, `${dir}/s/server.ed25519.pub.pem`);
    assert.deepEqual(
      Uint8Array.fromBase64(s.public_keys.x25519),
      (await readServerKey(s.files.x25519_private)).x25519Public,
    );
    assert.deepEqual(
      Uint8Array.fromBase64(s.public_keys.ed25519),
      await readEd25519Public(s.files.ed25519_public),
    );

    const u = JSON.parse(
      ok(await siglatch(["keygen", "user", "bob", `${dir}/u`, "--json"])).stdout,
    );
    assert.equal(u.kind, "user");
    assert.equal(u.name, "bob");
    assert.equal(u.id, null);
    assert.deepEqual(u.give_to_user, [u.files.hmac, u.files.ed25519_private]);
    assert.deepEqual(u.keep_on_server, [u.files.hmac, u.files.ed25519_public]);
    assert.deepEqual(
      Uint8Array.fromBase64(u.public_keys.ed25519),
      await readEd25519Public(u.files.ed25519_public),
    );
    const withId = JSON.parse(
      ok(await siglatch(["keygen", "user", "carol", `${dir}/u`, "--id", "7", "--json"])).stdout,
    );
    assert.equal(withId.id, 7);
  });
});

for (const umask of ["000", "077", "277"]) {
  Deno.test(`keygen file modes are exact under umask ${umask}`, async () => {
    await withDir(async (dir) => {
      ok(await siglatch(["keygen", "server", `${dir}/s`], umask));
      ok(await siglatch(["keygen", "user", "dave", `${dir}/u`], umask));
      for (const [name, m] of SERVER_FILES) assert.equal(await mode(`${dir}/s/${name}`), m, name);
      for (const [name, m] of userFiles("dave")) {
        assert.equal(await mode(`${dir}/u/${name}`), m, name);
      }
      assert.equal(await mode(`${dir}/s`), 0o700);
    });
  });
}

Deno.test("keygen refuses to overwrite, names the file, writes nothing; --force replaces", async () => {
  await withDir(async (dir) => {
    ok(await siglatch(["keygen", "server", dir]));
    const before = await snapshot(dir);
    const again = await siglatch(["keygen", "server", dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refusing to overwrite existing .*server\.x25519\.pem/);
    assert.match(again.stderr, /--force/);
    assert.deepEqual(await snapshot(dir), before);

    // One existing target blocks all of them.
    const u = `${dir}/users`;
    await Deno.mkdir(u);
    await Deno.writeTextFile(`${u}/erin.ed25519.pub.pem`, "keep me\n");
    const blocked = await siglatch(["keygen", "user", "erin", u]);
    assert.equal(blocked.code, 1);
    assert.match(blocked.stderr, new RegExp(`${u}/erin\\.ed25519\\.pub\\.pem`));
    assert.doesNotMatch(blocked.stderr, /erin\.hmac/);
    assert.deepEqual(await listDir(u), ["erin.ed25519.pub.pem"]);
    assert.equal(await Deno.readTextFile(`${u}/erin.ed25519.pub.pem`), "keep me\n");

    // --force replaces every file, with fresh keys and exact modes.
    await Deno.chmod(`${dir}/server.x25519.pem`, 0o666);
    ok(await siglatch(["keygen", "server", dir, "--force"]));
    const after = await snapshot(dir);
    for (const [name, m] of SERVER_FILES) {
      assert.notEqual(after[name], before[name], name);
      assert.equal(await mode(`${dir}/${name}`), m, name);
    }
    ok(await siglatch(["keygen", "user", "erin", u, "-f"]));
    assert.deepEqual(await listDir(u), userFiles("erin").map(([n]) => n));
    assert.equal(await mode(`${u}/erin.ed25519.pub.pem`), 0o644);
  });
});

Deno.test("keygen rejects bad names, ids and arguments with exit 2, writing nothing", async () => {
  await withDir(async (dir) => {
    for (const name of ["../evil", ".hidden", "a/b", "x".repeat(65), "sp ace", "é"]) {
      const r = await siglatch(["keygen", "user", name, dir]);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, /invalid user name .*expected a name of 1-64 letters/, name);
    }
    for (const id of ["0", "-1", "4294967296", "1.5", "abc"]) {
      const r = await siglatch(["keygen", "user", "frank", dir, "--id", id]);
      assert.equal(r.code, 2, `--id ${id}: ${r.stderr}`);
      assert.match(r.stderr, /expected an integer 1\.\.4294967295|unknown option/, id);
    }
    const usage: [string[], RegExp][] = [
      [["keygen"], /keygen needs a subcommand: server or user/],
      [["keygen", "client", dir], /unknown keygen subcommand 'client'/],
      [["keygen", "server"], /missing required argument 'dir'/],
      [["keygen", "user", "grace"], /missing required argument 'dir'/],
      [["keygen", "server", dir, "extra"], /too many arguments/],
      [["keygen", "server", dir, "--bogus"], /unknown option '--bogus'/],
    ];
    for (const [args, pattern] of usage) {
      const r = await siglatch(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, pattern, args.join(" "));
    }
    assert.deepEqual(await listDir(dir), []);
  });
});

Deno.test("keygen fails with exit 1 when the directory cannot be made", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "x");
    const r = await siglatch(["keygen", "server", `${dir}/file`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${dir}/file exists and is not a directory`));
    const deeper = await siglatch(["keygen", "user", "ivan", `${dir}/file/sub`]);
    assert.equal(deeper.code, 1, deeper.stderr);
    assert.match(deeper.stderr, /cannot use directory .*file\/sub: a parent is not a directory/);
    assert.deepEqual(await listDir(dir), ["file"]);
  });
});

Deno.test("keygen --help has usage and examples", async () => {
  for (
    const args of [["keygen", "--help"], ["keygen", "server", "--help"], ["keygen", "user", "-h"]]
  ) {
    const r = ok(await siglatch(args));
    const text = r.stdout + r.stderr;
    assert.match(text, /Usage: siglatch keygen/);
    assert.match(text, /Examples:\n\s+siglatch keygen/);
  }
});

Deno.test("openssl accepts every PEM keygen writes", { ignore: !hasOpenssl }, async () => {
  await withDir(async (dir) => {
    ok(await siglatch(["keygen", "server", dir]));
    ok(await siglatch(["keygen", "user", "heidi", dir]));
    const openssl = async (args: string[]) => {
      const out = await new Deno.Command(OPENSSL, { args, stdout: "piped", stderr: "piped" })
        .output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, `openssl ${args.join(" ")}: ${dec.decode(out.stderr)}`);
      return dec.decode(out.stdout);
    };
    for (const base of ["server.x25519", "server.ed25519", "heidi.ed25519"]) {
      await openssl(["pkey", "-in", `${dir}/${base}.pem`, "-noout"]);
      await openssl(["pkey", "-pubin", "-in", `${dir}/${base}.pub.pem`, "-noout"]);
      // The public file is the public half of the private file.
      const derived = await openssl(["pkey", "-in", `${dir}/${base}.pem`, "-pubout"]);
      assert.equal(derived, await Deno.readTextFile(`${dir}/${base}.pub.pem`), base);
    }
  });
});

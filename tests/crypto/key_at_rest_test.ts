/**
 * Server keys at rest: `keygen server --encrypt`, encrypted PKCS#8 with the passphrase from
 * a file, the environment or a systemd credential (real `systemd-creds`), `key_command:`
 * with a real `pass` store and gpg, and no secret in any error or log line.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { parse } from "yaml";
import { loadServerKey } from "../../src/crypto/key_at_rest.ts";
import { aliceRequest, makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";

const PASS = "correct horse battery staple 7f3a";

async function run(cmd: string, args: string[], env: Record<string, string> = {}, stdin?: string) {
  const child = new Deno.Command(cmd, {
    args,
    env,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** Rewrites the fixture's server entry. */
async function setServer(config: string, fields: Record<string, unknown>, drop: string[] = []) {
  const doc = parse(await Deno.readTextFile(config));
  Object.assign(doc.servers[0], fields);
  for (const f of drop) delete doc.servers[0][f];
  await Deno.writeTextFile(config, stringify(doc));
}

Deno.test("keys at rest: keygen --encrypt, passphrase file/env, wrong passphrase is clear and secret-free", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runCli(["keygen", "server", `${dir}/k`, "--encrypt", "--json"], {
      env: { SIGLATCH_KEY_PASSPHRASE: PASS },
    });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const pem = await Deno.readTextFile(out.files.x25519_private);
    assert.match(pem, /BEGIN ENCRYPTED PRIVATE KEY/);
    assert.match(await Deno.readTextFile(out.files.ed25519_private), /BEGIN ENCRYPTED/);
    const noPass = await runCli(["keygen", "server", `${dir}/k2`, "--encrypt"]);
    assert.equal(noPass.code, 2, "--encrypt without a passphrase is a usage error");

    await Deno.writeTextFile(`${dir}/pass`, PASS + "\n", { mode: 0o600 });
    const key = await loadServerKey({
      key_file: out.files.x25519_private,
      key_passphrase: { file: `${dir}/pass` },
    });
    assert.equal(key.x25519Public.toBase64(), out.public_keys.x25519);
    Deno.env.set("SIGLATCH_TEST_PASS", PASS);
    const viaEnv = await loadServerKey({
      key_file: out.files.x25519_private,
      key_passphrase: { env: "SIGLATCH_TEST_PASS" },
    });
    assert.equal(viaEnv.x25519Public.toBase64(), out.public_keys.x25519);
    Deno.env.set("SIGLATCH_TEST_PASS", "wrong " + PASS);
    await assert.rejects(
      loadServerKey({
        key_file: out.files.x25519_private,
        key_passphrase: { env: "SIGLATCH_TEST_PASS" },
      }),
      (err: Error) => {
        assert.match(err.message, /wrong passphrase/);
        assert.ok(!err.message.includes(PASS), "the passphrase is not in the error");
        return true;
      },
    );
    await assert.rejects(
      loadServerKey({ key_file: out.files.x25519_private }),
      /encrypted; give key_passphrase/,
    );
  } finally {
    Deno.env.delete("SIGLATCH_TEST_PASS");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keys at rest: siglatchd with a wrong passphrase exits 1 with a clear error; the right one serves", async () => {
  const fx = await makeFixture();
  try {
    const pem = await run("openssl", [
      "pkcs8",
      "-topk8",
      "-v2",
      "aes-256-cbc",
      "-in",
      `${fx.dir}/server.pem`,
      "-passout",
      `pass:${PASS}`,
    ]);
    await Deno.writeTextFile(`${fx.dir}/server.pem`, pem, { mode: 0o600 });
    await Deno.writeTextFile(`${fx.dir}/pass`, "not " + PASS + "\n", { mode: 0o600 });
    await setServer(fx.config, { key_passphrase: { file: "pass" } });
    const bad = await runCli(["serve", "--config", fx.config]);
    assert.equal(bad.code, 1, bad.stderr);
    const all = bad.stdout + bad.stderr;
    assert.match(all, /servers\.main\.key_file: key file .*server\.pem: wrong passphrase/);
    assert.ok(!all.includes(PASS), "no passphrase in the output");
    assert.ok(!all.includes("ENCRYPTED"), "no key material in the output");
    await Deno.writeTextFile(`${fx.dir}/pass`, PASS + "\n", { mode: 0o600 });
    const d = await startDaemon(fx.config);
    try {
      const res = await aliceRequest(fx, 1);
      assert.equal(res.status, 0, "ping answered with the decrypted key");
    } finally {
      await d.stop();
    }
    assert.ok(!d.logs().includes(PASS));
  } finally {
    await fx.cleanup();
  }
});

Deno.test("keys at rest: the passphrase from a real systemd-creds credential ($CREDENTIALS_DIRECTORY)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runCli(["keygen", "server", `${dir}/k`, "--encrypt", "--json"], {
      env: { SIGLATCH_KEY_PASSPHRASE: PASS },
    });
    const out = JSON.parse(r.stdout);
    // What LoadCredentialEncrypted=siglatch-pass:FILE does: systemd decrypts the credential
    // into the service's credentials directory. No systemd runs as PID 1 here, so the test
    // decrypts it with systemd-creds itself, as systemd would.
    await run(
      "systemd-creds",
      ["encrypt", "--name=siglatch-pass", "-", `${dir}/pass.cred`],
      {},
      PASS,
    );
    const credDir = `${dir}/creds`;
    await Deno.mkdir(credDir, { mode: 0o700 });
    await run("systemd-creds", [
      "decrypt",
      "--name=siglatch-pass",
      `${dir}/pass.cred`,
      `${credDir}/siglatch-pass`,
    ]);
    assert.ok(!(await Deno.readTextFile(`${dir}/pass.cred`)).includes(PASS), "encrypted at rest");
    Deno.env.set("CREDENTIALS_DIRECTORY", credDir);
    const key = await loadServerKey({
      key_file: out.files.x25519_private,
      key_passphrase: { credential: "siglatch-pass" },
    });
    assert.equal(key.x25519Public.toBase64(), out.public_keys.x25519);
    Deno.env.delete("CREDENTIALS_DIRECTORY");
    await assert.rejects(
      loadServerKey({
        key_file: out.files.x25519_private,
        key_passphrase: { credential: "siglatch-pass" },
      }),
      /CREDENTIALS_DIRECTORY is not set/,
    );
  } finally {
    Deno.env.delete("CREDENTIALS_DIRECTORY");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keys at rest: key_command reads a real pass store at start; a failing command keeps the old key on reload", async () => {
  const fx = await makeFixture({ top: { logging: { level: "info", format: "json" } } });
  const gnupg = await Deno.makeTempDir();
  const store = await Deno.makeTempDir();
  const saved = {
    GNUPGHOME: Deno.env.get("GNUPGHOME"),
    PASSWORD_STORE_DIR: Deno.env.get("PASSWORD_STORE_DIR"),
    HOME: Deno.env.get("HOME"),
  };
  try {
    await Deno.chmod(gnupg, 0o700);
    const env = { GNUPGHOME: gnupg, PASSWORD_STORE_DIR: store, HOME: gnupg, PATH: "/usr/bin:/bin" };
    await run("gpg", [
      "--batch",
      "--pinentry-mode",
      "loopback",
      "--passphrase",
      "",
      "--quick-generate-key",
      "siglatch-test@example.invalid",
      "future-default",
      "default",
      "never",
    ], env);
    await run("pass", ["init", "siglatch-test@example.invalid"], env);
    const pem = await Deno.readTextFile(`${fx.dir}/server.pem`);
    await run("pass", ["insert", "--multiline", "siglatch/server"], env, pem);
    await Deno.remove(`${fx.dir}/server.pem`);
    await setServer(fx.config, { key_command: ["pass", "show", "siglatch/server"] }, [
      "key_file",
    ]);
    for (const [k, v] of Object.entries(env)) if (k !== "PATH") Deno.env.set(k, v);
    const d = await startDaemon(fx.config);
    try {
      assert.equal((await aliceRequest(fx, 1)).status, 0, "served with the key from pass");
      // The secret manager now fails: the reload is refused and the old key keeps serving.
      await run("pass", ["rm", "--force", "siglatch/server"], env);
      const r = await runCli(["admin", "--config", fx.config, "reload"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /key_command pass: exited with code 1/);
      assert.equal((await aliceRequest(fx, 1)).status, 0, "the old key still serves");
    } finally {
      await d.stop();
    }
    const body = pem.split("\n")[1];
    assert.ok(!d.logs().includes(body), "no key material in any log line");
    assert.match(d.logs(), /reload refused/);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
    await fx.cleanup();
    await Deno.remove(gnupg, { recursive: true }).catch(() => {});
    await Deno.remove(store, { recursive: true });
  }
});

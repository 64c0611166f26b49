/**
 * Redis with credentials and TLS, against real redis-servers: `--requirepass`, an ACL user,
 * a password file, a TLS-only server with a test CA (Debian's redis-server is built with
 * TLS), and refusals: wrong password, untrusted certificate, a password never in messages.
 * @module
 */
import assert from "node:assert/strict";
import { RedisStateStore } from "../../src/state/redis.ts";
import { readRedisPassword, redactRedisUrl, redisOptions } from "../../src/state/redis_url.ts";
import { openStateStore } from "../../src/cli/serve.ts";
import { ConfigSchema } from "../../src/config/schema.ts";
import { startRedis } from "../_helpers/redis.ts";
import { skipWithout } from "../_helpers/system.ts";

const SECRET = "s3cr3t-Pa55";

async function roundTrip(store: RedisStateStore): Promise<void> {
  await store.set("t", "k", { n: 1 });
  assert.deepEqual((await store.get("t", "k"))?.value, { n: 1 });
  await store.close();
}

Deno.test("redisOptions: credentials, db, TLS and refusals, built field by field", () => {
  const o = redisOptions("rediss://app:p%40ss@redis.example:6380/3");
  assert.equal(o.host, "redis.example");
  assert.equal(o.port, 6380);
  assert.equal(o.db, 3);
  assert.equal(o.username, "app");
  assert.equal(o.password, "p@ss");
  assert.deepEqual(o.tls, { servername: "redis.example", rejectUnauthorized: true });
  assert.deepEqual(redisOptions("rediss://127.0.0.1:1/0", { ca: "PEM" }).tls, {
    ca: ["PEM"],
    rejectUnauthorized: true,
  });
  assert.equal(redisOptions("redis://127.0.0.1:6379/0").tls, undefined);
  assert.equal(redisOptions("redis://h", { password: "f" }).password, "f");
  assert.throws(() => redisOptions("redis://:a@h", { password: "f" }), /both given/);
  assert.throws(() => redisOptions("redis://h/0?tls=false"), /query/);
  assert.throws(() => redisOptions("redis://h/db"), /database number/);
  for (const bad of ["redis://h/0", "rediss://u:pw@h:1/0"]) {
    try {
      redisOptions(bad.replace("/0", "/0?x=1"));
    } catch (err) {
      assert.ok(!String(err).includes("pw"), "no password in errors");
    }
  }
  assert.equal(redactRedisUrl("rediss://u:hunter2@h:1/0"), "rediss://u:***@h:1/0");
  // The schema takes credentials and rediss://, and refuses a password in two places.
  const state = (s: Record<string, unknown>) => ConfigSchema.shape.state.safeParse(s);
  assert.ok(state({ redis: "rediss://user:pw@10.0.0.5:6380/2" }).success);
  assert.ok(!state({ redis: "redis://h:1/0?tls=1" }).success);
  assert.ok(!state({ redis: "redis://u:pw@h:1/0", redis_password_file: "/x" }).success);
  assert.ok(state({ redis: "redis://u@h:1/0", redis_password_file: "/x" }).success);
});

Deno.test({
  name: "Redis AUTH: requirepass, an ACL user, a password file; a wrong password is refused",
  ignore: skipWithout("redis-server", "redis-server"),
  async fn() {
    const redis = await startRedis({
      args: [
        "--requirepass",
        SECRET,
        "--user",
        "siglatch",
        "on",
        `>${SECRET}-acl`,
        "~siglatch:*",
        "+@all",
      ],
    });
    const dir = await Deno.makeTempDir({ prefix: "siglatch-redis-auth-" });
    const url = new URL(redis.url);
    try {
      await assert.rejects(RedisStateStore.connect(redis.url), /NOAUTH|auth/i, "no password");
      await assert.rejects(
        RedisStateStore.connect(`redis://:wrong@${url.host}/0`),
        /WRONGPASS|invalid/i,
      );
      await roundTrip(await RedisStateStore.connect(`redis://:${SECRET}@${url.host}/0`));
      await roundTrip(
        await RedisStateStore.connect(`redis://siglatch:${SECRET}-acl@${url.host}/0`),
      );
      // The ACL user may touch only siglatch:* keys.
      await assert.rejects(
        RedisStateStore.connect(`redis://siglatch:${SECRET}-acl@${url.host}/0`, { prefix: "x:" })
          .then((s) => s.set("t", "k", 1).finally(() => s.close())),
        /NOPERM/,
      );
      // The password from a file, as `serve` reads it.
      const file = `${dir}/redis.pass`;
      await Deno.writeTextFile(file, `${SECRET}-acl\n`, { mode: 0o600 });
      assert.equal(await readRedisPassword(file), `${SECRET}-acl`);
      const config = ConfigSchema.parse({
        servers: [],
        state: { redis: `redis://siglatch@${url.host}/0`, redis_password_file: file },
      } as unknown);
      const store = await openStateStore(config);
      await roundTrip(store as RedisStateStore);
      // A refusal names the URL without the password.
      const bad = ConfigSchema.parse({
        servers: [],
        state: { redis: `redis://siglatch:${SECRET}-nope@${url.host}/0` },
      } as unknown);
      const err = await openStateStore(bad).then(() => null, (e) => e);
      assert.ok(err instanceof Error);
      assert.ok(!err.message.includes(SECRET), err.message);
      assert.match(err.message, /\*\*\*/);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await redis.stop();
    }
  },
});

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

Deno.test({
  name: "Redis TLS: rediss:// to a TLS-only server verified against state.redis_ca_file",
  ignore: skipWithout("redis-server", "redis-server") || skipWithout("openssl", "openssl"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "siglatch-redis-tls-" });
    try {
      await openssl([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=siglatch test CA",
      ], dir);
      await openssl([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
      ], dir);
      await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1\n");
      await openssl([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
      ], dir);
      const redis = await startRedis({
        tls: { cert: `${dir}/server.pem`, key: `${dir}/server.key`, ca: `${dir}/ca.pem` },
        args: ["--requirepass", SECRET],
      });
      try {
        const url = redis.url.replace("rediss://", `rediss://:${SECRET}@`);
        const ca = await Deno.readTextFile(`${dir}/ca.pem`);
        await roundTrip(await RedisStateStore.connect(url, { ca }));
        // Without the CA the server is not trusted; in plain text it does not answer.
        await assert.rejects(RedisStateStore.connect(url));
        await assert.rejects(RedisStateStore.connect(url.replace("rediss:", "redis:"), { ca }));
      } finally {
        await redis.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * Relative file paths in a config are relative to the file that contains them: this
 * module makes them absolute after validation, so the daemon never depends on its
 * working directory.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import type { Config } from "./schema.ts";

/** Gives the directory of the file that holds the value at a merged config path. */
export type DirOf = (path: readonly PropertyKey[]) => string;

function abs(value: string | undefined, dir: string): string | undefined {
  if (value === undefined || value === "" || isAbsolute(value)) return value;
  if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return value; // a URL (file:, https:, npm:)
  return resolve(dir, value);
}

/** An argv whose program is a path (contains '/') gets that path made absolute. */
function absArgv(argv: string[] | undefined, dir: string): string[] | undefined {
  if (!argv || argv.length === 0 || !argv[0].includes("/")) return argv;
  return [abs(argv[0], dir)!, ...argv.slice(1)];
}

/** Makes every file path in `config` absolute (in place) and returns it. */
export function resolveConfigPaths(config: Config, dirOf: DirOf): Config {
  config.servers.forEach((s, i) => {
    const dir = dirOf(["servers", i]);
    s.key_file = abs(s.key_file, dir);
    if (s.key_passphrase?.file) s.key_passphrase.file = abs(s.key_passphrase.file, dir);
    s.identity_key_file = abs(s.identity_key_file, dir);
    if (s.knock?.derived) s.knock.derived.secret_file = abs(s.knock.derived.secret_file, dir)!;
    if (s.port_hopping) s.port_hopping.secret_file = abs(s.port_hopping.secret_file, dir)!;
  });
  config.users.forEach((u, i) => {
    const dir = dirOf(["users", i]);
    u.hmac_key_file = abs(u.hmac_key_file, dir);
    u.ed25519_public_key_file = abs(u.ed25519_public_key_file, dir);
  });
  config.actions.forEach((a, i) => {
    const dir = dirOf(["actions", i]);
    a.command = absArgv(a.command, dir);
    if (Array.isArray(a.destructor)) a.destructor = absArgv(a.destructor, dir);
    a.working_dir = abs(a.working_dir, dir);
  });
  config.state.path = abs(config.state.path, dirOf(["state"]))!;
  config.state.redis_password_file = abs(config.state.redis_password_file, dirOf(["state"]));
  config.state.redis_ca_file = abs(config.state.redis_ca_file, dirOf(["state"]));
  config.admin.socket = abs(config.admin.socket, dirOf(["admin"]))!;
  config.admin.token_file = abs(config.admin.token_file, dirOf(["admin"]));
  config.admin.tls_cert = abs(config.admin.tls_cert, dirOf(["admin"]));
  config.admin.tls_key = abs(config.admin.tls_key, dirOf(["admin"]));
  config.logging.file = abs(config.logging.file, dirOf(["logging"]));
  config.plugins.dir = abs(config.plugins.dir, dirOf(["plugins"]));
  return config;
}

/**
 * File-system checks for a config: key files exist, are readable and (for secrets)
 * are not readable by group or others, as ssh insists; executables exist and are
 * executable; run_as users and groups exist; working directories and plugin modules exist.
 *
 * @module
 */
import { delimiter, join } from "node:path";
import type { LintOptions, Reporter } from "./lint_reporter.ts";
import type { Config } from "./schema.ts";
import { describeFsError } from "./source.ts";
import { findEntry, readDb, splitRunAs } from "../util/sysdb.ts";

/** What a key file holds: secrets must be mode 0600 (or stricter), public keys need not. */
export type KeyKind = "secret" | "public";

function checkKeyFile(r: Reporter, path: PropertyKey[], file: string, kind: KeyKind): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(file);
  } catch (err) {
    r.error(path, `key file ${file}: ${describeFsError(err)}`, "key_missing");
    return;
  }
  if (!info.isFile) {
    r.error(path, `key file ${file}: not a regular file`, "key_missing");
    return;
  }
  try {
    Deno.openSync(file, { read: true }).close();
  } catch (err) {
    r.error(path, `key file ${file}: cannot read: ${describeFsError(err)}`, "key_unreadable");
    return;
  }
  const mode = (info.mode ?? 0) & 0o777;
  if (kind === "secret" && (mode & 0o077) !== 0) {
    r.error(
      path,
      `key file ${file} is accessible by group or others (mode ${
        mode.toString(8).padStart(4, "0")
      })` +
        `: run chmod 600 ${file}`,
      "key_mode",
    );
  }
}

function findInPath(name: string): string | undefined {
  let pathVar: string | undefined;
  try {
    pathVar = Deno.env.get("PATH");
  } catch {
    pathVar = undefined;
  }
  for (const dir of (pathVar ?? "/usr/local/bin:/usr/bin:/bin").split(delimiter)) {
    try {
      const info = Deno.statSync(join(dir, name));
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function checkExecutable(r: Reporter, path: PropertyKey[], program: string): void {
  if (!program.includes("/")) {
    if (!findInPath(program)) {
      r.error(path, `"${program}" is not found in PATH; give an absolute path`, "exec_missing");
    }
    return;
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(program);
  } catch (err) {
    r.error(path, `executable ${program}: ${describeFsError(err)}`, "exec_missing");
    return;
  }
  if (!info.isFile) r.error(path, `executable ${program}: not a regular file`, "exec_missing");
  else if (((info.mode ?? 0) & 0o111) === 0) {
    r.error(path, `${program} is not executable: run chmod +x ${program}`, "exec_mode");
  }
}

function checkDir(r: Reporter, path: PropertyKey[], dir: string, what: string): void {
  try {
    if (!Deno.statSync(dir).isDirectory) {
      r.error(path, `${what} ${dir} is not a directory`, "dir_missing");
    }
  } catch (err) {
    r.error(path, `${what} ${dir}: ${describeFsError(err)}`, "dir_missing");
  }
}

/** Runs the file-system checks on a validated config (paths already absolute). */
export function lintFiles(r: Reporter, config: Config, opts: LintOptions): void {
  config.servers.forEach((s, i) => {
    if (s.key_file) checkKeyFile(r, ["servers", i, "key_file"], s.key_file, "secret");
    if (s.key_passphrase?.file) {
      checkKeyFile(r, ["servers", i, "key_passphrase", "file"], s.key_passphrase.file, "secret");
    }
    if (s.identity_key_file) {
      checkKeyFile(r, ["servers", i, "identity_key_file"], s.identity_key_file, "secret");
    }
  });
  config.users.forEach((u, i) => {
    if (u.hmac_key_file) checkKeyFile(r, ["users", i, "hmac_key_file"], u.hmac_key_file, "secret");
    if (u.ed25519_public_key_file) {
      checkKeyFile(r, ["users", i, "ed25519_public_key_file"], u.ed25519_public_key_file, "public");
    }
  });
  if (config.state.redis_password_file) {
    checkKeyFile(r, ["state", "redis_password_file"], config.state.redis_password_file, "secret");
  }
  if (config.state.redis_ca_file) {
    checkKeyFile(r, ["state", "redis_ca_file"], config.state.redis_ca_file, "public");
  }
  const passwd = readDb(opts.passwdFile ?? "/etc/passwd");
  const group = readDb(opts.groupFile ?? "/etc/group");
  config.actions.forEach((a, i) => {
    if (a.command) checkExecutable(r, ["actions", i, "command", 0], a.command[0]);
    if (Array.isArray(a.destructor)) {
      checkExecutable(r, ["actions", i, "destructor", 0], a.destructor[0]);
    }
    if (a.working_dir) checkDir(r, ["actions", i, "working_dir"], a.working_dir, "working_dir");
    if (a.run_as !== undefined) {
      const { user, group: grp } = splitRunAs(a.run_as);
      if (!findEntry(passwd, user)) {
        r.error(
          ["actions", i, "run_as"],
          `run_as user "${user}" does not exist in /etc/passwd`,
          "run_as_unknown",
        );
      }
      if (grp !== undefined && !findEntry(group, grp)) {
        r.error(
          ["actions", i, "run_as"],
          `run_as group "${grp}" does not exist in /etc/group`,
          "run_as_unknown",
        );
      }
    }
  });
  if (config.admin.token_file) {
    checkKeyFile(r, ["admin", "token_file"], config.admin.token_file, "secret");
  }
  if (config.admin.tls_key) {
    checkKeyFile(r, ["admin", "tls_key"], config.admin.tls_key, "secret");
  }
}

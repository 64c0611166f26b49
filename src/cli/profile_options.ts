/**
 * The options every command that sends as a profile takes: the profile, and the fields that
 * override it (server, keys, user, local address).
 * @module
 */
import type { Command } from "commander";

/** Adds the profile options to `cmd` (in this order, so `--help` lists them together). */
export function addProfileOptions(cmd: Command): Command {
  return cmd
    .option("-p, --profile <name|path>", "client profile (name in ~/.config/siglatch/profiles/)")
    .option("--host <host>", "server address")
    .option("--port <port>", "server UDP port")
    .option("--server-key <base64|file>", "server X25519 public key")
    .option("--user-id <id>", "your user id")
    .option("--hmac-key <file>", "your HMAC key file")
    .option("--ed25519-key <file>", "your Ed25519 private key file")
    .option("--bind <addr>", "local address to send from");
}

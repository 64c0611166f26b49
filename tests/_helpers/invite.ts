/**
 * Invites made through the real CLI (`siglatch invite create`) against a fixture's config,
 * for the enrollment tests.
 * @module
 */
import assert from "node:assert/strict";
import { runCli } from "./daemon.ts";

function inviteArgs(config: string, name: string, flags: string[]): string[] {
  return ["invite", "create", "--config", config, "--name", name, "--actions", "ping", ...flags];
}

/**
 * An invite for user `name` (action ping) with `flags` (e.g. `--expires 1h`); asserts the
 * command succeeded and returns the invite it printed.
 */
export async function createInvite(
  config: string,
  name: string,
  flags: string[] = [],
): Promise<string> {
  const made = await runCli(inviteArgs(config, name, flags));
  assert.equal(made.code, 0, made.stderr);
  return made.stdout.trim();
}

/**
 * An invite that needs approval (`--approve`), with `flags`: the invite and the id that
 * `admin approve` takes (from `--json`).
 */
export async function createApprovalInvite(
  config: string,
  name: string,
  flags: string[] = [],
): Promise<{ invite: string; id: number }> {
  const made = await runCli(inviteArgs(config, name, [...flags, "--approve", "--json"]));
  assert.equal(made.code, 0, made.stderr);
  return JSON.parse(made.stdout) as { invite: string; id: number };
}

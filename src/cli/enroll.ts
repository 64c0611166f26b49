/**
 * `siglatch enroll INVITE --out guest1.yaml`: turn an invite into a profile (a new Ed25519
 * key made here, the public key sent sealed to the server). Exit status: 0 enrolled,
 * 1 refused or no answer, 2 usage.
 * @module
 */
import type { Command } from "commander";
import { CliError, UsageError } from "./errors.ts";
import { enroll } from "../client/enroll.ts";
import { parseDuration } from "../config/duration.ts";
import { ProgressView } from "../client/progress.ts";

/** Flags of `enroll`. */
export interface EnrollFlags {
  /** Profile path to write. */
  out: string;
  /** How long to wait for an approval. */
  wait?: string;
  /** Time between polls while pending. */
  poll?: string;
  /** Overwrite. */
  force?: boolean;
}

/** Runs `enroll`. */
export async function runEnroll(invite: string, flags: EnrollFlags): Promise<void> {
  const waitMs = flags.wait === undefined ? undefined : parseDuration(flags.wait);
  const pollMs = flags.poll === undefined ? undefined : parseDuration(flags.poll);
  if (waitMs === undefined && flags.wait !== undefined) throw new UsageError("--wait: a duration");
  if (pollMs === undefined && flags.poll !== undefined) throw new UsageError("--poll: a duration");
  // Waiting for approval: a bar of the --wait time on a terminal (the pending line otherwise).
  const tty = Deno.stderr.isTerminal();
  const view = new ProgressView(tty, (t) => Deno.stderr.writeSync(new TextEncoder().encode(t)));
  try {
    const r = await enroll(invite, {
      out: flags.out,
      waitMs,
      pollMs,
      force: flags.force,
      onPending: (id) =>
        console.error(`pending: waiting for the operator to run \`siglatch admin approve ${id}\``),
      onWaiting: (waited, wait) => {
        if (!tty) return;
        const m = Math.max(1, Math.ceil(wait / 1000));
        view.show({ n: Math.min(m, Math.floor(waited / 1000)), m, text: "s waiting for approval" });
      },
    });
    view.done();
    console.log(
      `enrolled as ${r.name} (user ${r.userId}) until ${new Date(r.notAfter).toISOString()}\n` +
        `profile ${r.profile}, key ${r.keyFile}`,
    );
  } catch (err) {
    view.done();
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
}

/** Registers `enroll`. */
export function register(program: Command): void {
  program.command("enroll")
    .description("turn an invite (sli1.…) into a profile: a new key made here, sent sealed")
    .argument("<invite>", "the invite text `siglatch invite create` printed")
    .requiredOption("-o, --out <file>", "profile to write (the key goes next to it)")
    .option("--wait <duration>", "how long to wait for an approval", "10m")
    .option("--poll <duration>", "time between polls while pending", "2s")
    .option("--force", "overwrite an existing profile")
    .action((invite: string, flags: EnrollFlags) => runEnroll(invite, flags));
}

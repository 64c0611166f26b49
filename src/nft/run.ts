/**
 * Runs `nft` (or the argv that stands for it, e.g. `ip netns exec NS nft`) once with a script
 * on stdin and collects what it printed. Every nft process of the daemon starts here (grants, bans, the reconcile probe).
 *
 * @example
 * ```ts
 * const res = await runNft(["nft"], "add table inet siglatch\n");
 * if (res.code !== 0) console.error(res.stderr);
 * ```
 * @module
 */

/** What one nft run printed, and its exit code. */
export interface NftRun {
  /** Exit code (0 = applied). */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error (nft's error messages). */
  stderr: string;
}

/** Runs `command` + `args` with `script` on stdin (`-f -` by default: one atomic batch). */
export async function runNft(
  command: readonly string[],
  script: string,
  args: readonly string[] = ["-f", "-"],
): Promise<NftRun> {
  const [bin, ...pre] = command;
  const child = new Deno.Command(bin, {
    args: [...pre, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(script));
    await writer.close();
  } catch {
    // nft exited before reading everything; its status and stderr say why
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Runs async jobs one at a time, in call order: a backend's setup, repair and batches never
 * interleave their nft transactions.
 *
 * @example
 * ```ts
 * const serial = new Serial();
 * await serial.run(() => runNft(["nft"], "add table inet siglatch\n"));
 * ```
 */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `job` after every job queued before it; settles as `job` does. */
  run<T>(job: () => Promise<T>): Promise<T> {
    const p = this.#tail.then(job, job);
    this.#tail = p.catch(() => {});
    return p;
  }
}

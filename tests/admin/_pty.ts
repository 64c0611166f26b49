/**
 * Runs a command in a real pseudo-terminal (util-linux `script`) and drives it like a
 * person at a keyboard: write keys, wait for output.
 * @module
 */

/** A command running in a pty. */
export interface PtySession {
  /** Types `keys`. */
  write(keys: string): Promise<void>;
  /** Everything the terminal showed so far (escape sequences included). */
  output(): string;
  /** Waits until the output (after `from`) matches `re`; rejects after `ms`. */
  waitFor(re: RegExp, ms?: number, from?: number): Promise<void>;
  /** Closes stdin and waits for exit (killing it after `ms`); returns the exit code. */
  close(ms?: number): Promise<number>;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Starts `argv` in a pty with `env` added. */
export function spawnPty(argv: string[], env: Record<string, string> = {}): PtySession {
  const child = new Deno.Command("script", {
    args: ["-q", "-e", "-c", argv.map(shellQuote).join(" "), "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", TERM: "xterm", ...env },
  }).spawn();
  const writer = child.stdin.getWriter();
  let text = "";
  const decoder = new TextDecoder();
  const pump = (async () => {
    for await (const chunk of child.stdout) text += decoder.decode(chunk, { stream: true });
  })();
  const errPump = (async () => {
    for await (const chunk of child.stderr) text += decoder.decode(chunk, { stream: true });
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    write: (keys) => writer.write(new TextEncoder().encode(keys)),
    output: () => text,
    waitFor: async (re, ms = 10_000, from = 0) => {
      const deadline = Date.now() + ms;
      while (!re.test(text.slice(from))) {
        if (Date.now() > deadline || exited) {
          throw new Error(
            `timed out waiting for ${re} in terminal output:\n${JSON.stringify(text)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    close: async (ms = 5000) => {
      await writer.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // gone
        }
      }, ms);
      const s = await status;
      clearTimeout(timer);
      await Promise.all([pump, errPump]);
      return s.code;
    },
  };
}

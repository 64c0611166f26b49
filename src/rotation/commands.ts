/**
 * `admin rotate server [NAME]`: parsing for the control protocol and the daemon side.
 * @module
 */

type Parsed = { ok: true; cmd: string; args: Record<string, unknown> } | {
  ok: false;
  error: string;
};

/** Parses the words after `rotate`. */
export function parseRotateCommand(rest: string[]): Parsed {
  const [what, name, extra] = rest;
  const bad = (what !== "server" && what !== "user") || extra !== undefined ||
    name?.startsWith("--") || (what === "user" && name === undefined);
  if (bad) return { ok: false, error: "rotate: expected server [NAME] | user NAME" };
  return { ok: true, cmd: "rotate", args: { what, ...(name ? { name } : {}) } };
}

/** What the daemon side needs. */
export interface RotatingDaemon {
  /** Rotates one server's key. */
  rotateServer(name: string): Promise<{ generation: number; public_key: string }>;
  /** Rotates one user's HMAC key. */
  rotateUser(name: string): Promise<{ until: string }>;
  /** The running config's servers. */
  readonly runtime: { config: { servers: { name: string }[] } };
}

/** The `rotate` command for the control socket. */
export function rotateCommands(
  daemon: RotatingDaemon,
): Record<string, (args: Record<string, unknown>) => Promise<unknown>> {
  return {
    rotate: async (args) => {
      if (args.what === "user") {
        const r = await daemon.rotateUser(String(args.name));
        return {
          message: `user ${args.name}: new key made; its next request receives it (the old ` +
            `key is accepted until then, at most until ${r.until})`,
        };
      }
      const names = typeof args.name === "string"
        ? [args.name]
        : daemon.runtime.config.servers.map((s) => s.name);
      const done: string[] = [];
      for (const name of names) {
        const r = await daemon.rotateServer(name);
        done.push(`${name}: key generation ${r.generation}, public key ${r.public_key}`);
      }
      return { message: done.join("\n") };
    },
  };
}

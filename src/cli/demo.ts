/**
 * `siglatch demo`: first run creates a loopback-only demo (config, server and user keys,
 * client profile) in `./.siglatch-demo/`, then serves it. Later runs reuse it.
 * @module
 */
import type { Command } from "commander";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { serve } from "./serve.ts";
import { CliError } from "./errors.ts";

/** Demo settings. */
export interface DemoOptions {
  /** Directory holding the demo. */
  dir: string;
  /** UDP port on 127.0.0.1. */
  port: number;
}

async function writeNew(path: string, data: string, mode: number): Promise<void> {
  await Deno.writeTextFile(path, data, { mode, createNew: true });
  await Deno.chmod(path, mode);
}

function rawPublicX25519(pem: string): string {
  const der = Uint8Array.fromBase64(pem.replace(/-----[^-]+-----/g, ""));
  return der.subarray(der.length - 32).toBase64();
}

/** Creates the demo files when absent; returns the config path. */
export async function ensureDemo(opts: DemoOptions): Promise<{ config: string; created: boolean }> {
  const config = `${opts.dir}/siglatchd.yaml`;
  try {
    await Deno.stat(config);
    return { config, created: false };
  } catch {
    // create below
  }
  await Deno.mkdir(`${opts.dir}/keys`, { recursive: true, mode: 0o700 });
  const x = generateKeyPairSync("x25519");
  const xPriv = x.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const xPub = x.publicKey.export({ type: "spki", format: "pem" }).toString();
  const hmac = new Uint8Array(randomBytes(32)).toBase64() + "\n";
  await writeNew(`${opts.dir}/keys/server.x25519.pem`, xPriv, 0o600);
  await writeNew(`${opts.dir}/keys/server.x25519.pub.pem`, xPub, 0o644);
  await writeNew(`${opts.dir}/keys/demo.hmac`, hmac, 0o600);
  await writeNew(
    `${opts.dir}/client.yaml`,
    `# siglatch client profile for the demo server (see README).
host: 127.0.0.1
port: ${opts.port}
server_public_key: ${rawPublicX25519(xPub)}
user_id: 1
hmac_key_file: keys/demo.hmac
actions: { ping: 1, version: 2, list_actions: 3, echo: 10 }
`,
    0o600,
  );
  await writeNew(
    config,
    `# Demo config written by \`siglatch demo\`: loopback only, throwaway keys.
servers:
  - name: demo
    label: siglatch demo (loopback only)
    listen: ["127.0.0.1:${opts.port}"]
    key_file: keys/server.x25519.pem
users:
  - id: 1
    name: demo
    hmac_key_file: keys/demo.hmac
    actions: [ping, version, list_actions, echo]
actions:
  - { id: 1, name: ping, type: builtin, builtin: ping }
  - { id: 2, name: version, type: builtin, builtin: version }
  - { id: 3, name: list_actions, type: builtin, builtin: list_actions }
  - id: 10
    name: echo
    type: exec
    description: echoes the payload back
    command: ["/bin/cat"]
    timeout: 5s
state:
  path: state
admin:
  socket: admin.sock
messages:
  - { level: notice, text: "welcome to the siglatch demo" }
`,
    0o600,
  );
  return { config, created: true };
}

/** Registers the `demo` subcommand. */
export function register(program: Command): void {
  program.command("demo")
    .description("run a loopback-only demo daemon (creates ./.siglatch-demo/ on first run)")
    .option("--dir <dir>", "where the demo lives", ".siglatch-demo")
    .option("--port <port>", "UDP port on 127.0.0.1", "50000")
    .action(async (o: { dir: string; port: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new CliError(`--port ${o.port}: expected 1..65535`, 2);
      }
      const { config, created } = await ensureDemo({ dir: o.dir, port });
      console.error(
        `${created ? "created" : "using"} demo in ${o.dir}/ (config ${config})\n` +
          `try, in another terminal:\n` +
          `  deno task siglatch send --profile ${o.dir}/client.yaml ping\n` +
          `  deno task siglatch send --profile ${o.dir}/client.yaml echo hello\n`,
      );
      const code = await serve({ config });
      if (code !== 0) throw new CliError("", code);
    });
}

/**
 * The files of `siglatch demo` in `./.siglatch-demo/`: keys made once and kept; the config and
 * the client profile rewritten whenever they differ from what this version and this port want,
 * so a dir left by an earlier run (another port, a failed start, an older siglatch) is never
 * served as it was.
 * @module
 */
import { newToken } from "../web/auth.ts";
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { parse } from "yaml";

/** The port a demo uses when neither `--port` nor an existing demo names one. */
export const DEFAULT_DEMO_PORT = 50000;

/** Demo settings. */
export interface DemoOptions {
  /** Directory holding the demo. */
  dir: string;
  /** UDP port on 127.0.0.1; absent: the existing demo's port, else {@link DEFAULT_DEMO_PORT}. */
  port?: number;
  /**
   * Where state and the admin socket live when not in `dir` (as root: a directory the
   * unprivileged network part can reach, which a checkout under /root is not).
   */
  runtimeDir?: string;
}

/** What {@link ensureDemo} found and did. */
export interface DemoFiles {
  /** Config path. */
  config: string;
  /** Client profile path. */
  profile: string;
  /** The port the config now listens on. */
  port: number;
  /** True when the dir had no config before. */
  created: boolean;
  /** One line per change made to an existing demo (e.g. the port). */
  changes: string[];
  /** The dashboard's login token (`keys/web.token`). */
  webToken: string;
}

/** Action ids of the demo, shared by the config and the client profile. */
const ACTIONS = { ping: 1, version: 2, list_actions: 3, messages: 4, list_grants: 5, echo: 10 };

/** The server config of a demo listening on `port`. */
export function demoConfig(port: number, runtimeDir?: string): string {
  const state = runtimeDir ? `${runtimeDir}/state` : "state";
  const socket = runtimeDir ? `${runtimeDir}/admin.sock` : "run/admin.sock";
  return `# Demo config written by \`siglatch demo\`: loopback only, throwaway keys.
# Rewritten by the next \`siglatch demo\` run: copy it elsewhere to experiment.
servers:
  - name: demo
    label: siglatch demo (loopback only)
    listen: ["127.0.0.1:${port}"]
    key_file: keys/server.x25519.pem
users:
  - id: 1
    name: demo
    hmac_key_file: keys/demo.hmac
    actions: [ping, version, list_actions, messages, list_grants, echo]
actions:
  - { id: ${ACTIONS.ping}, name: ping, type: builtin, builtin: ping }
  - { id: ${ACTIONS.version}, name: version, type: builtin, builtin: version }
  - { id: ${ACTIONS.list_actions}, name: list_actions, type: builtin, builtin: list_actions }
  - { id: ${ACTIONS.messages}, name: messages, type: builtin, builtin: messages }
  - { id: ${ACTIONS.list_grants}, name: list_grants, type: builtin, builtin: list_grants }
  - id: ${ACTIONS.echo}
    name: echo
    type: exec
    description: echoes the payload back
    command: ["/bin/cat"]
    timeout: 5s
state:
  path: ${state}
admin:
  socket: ${socket}
  web_listen: 127.0.0.1:${port}
  token_file: keys/web.token
messages:
  - { level: notice, text: "welcome to the siglatch demo" }
`;
}

/** The client profile for a demo on `port` whose server public key is `serverPublic`. */
export function demoProfile(port: number, serverPublic: string): string {
  const actions = Object.entries(ACTIONS).map(([name, id]) => `${name}: ${id}`).join(", ");
  return `# siglatch client profile for the demo server (see README).
host: 127.0.0.1
port: ${port}
server_public_key: ${serverPublic}
user_id: 1
hmac_key_file: keys/demo.hmac
actions: { ${actions} }
`;
}

function rawPublicX25519(pem: string): string {
  const der = Uint8Array.fromBase64(pem.replace(/-----[^-]+-----/g, ""));
  return der.subarray(der.length - 32).toBase64();
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/** Writes `data` with `mode` via a temp file and rename, so a crash never leaves half a file. */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, data, { mode });
  await Deno.chmod(tmp, mode);
  await Deno.rename(tmp, path);
}

/** The port of the demo config's first listen address, or undefined when unreadable. */
export function portOfConfig(text: string): number | undefined {
  try {
    const listen = parse(text)?.servers?.[0]?.listen?.[0];
    const m = typeof listen === "string" ? /:(\d+)$/.exec(listen) : null;
    const port = m ? Number(m[1]) : NaN;
    return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
  } catch {
    return undefined;
  }
}

/** The server key pair: the existing private key (public half derived from it), else a new one. */
async function serverKeys(keys: string): Promise<string> {
  const privPath = `${keys}/server.x25519.pem`;
  const existing = await readOrNull(privPath);
  let pub: string;
  if (existing !== null) {
    pub = createPublicKey(createPrivateKey(existing)).export({ type: "spki", format: "pem" })
      .toString();
  } else {
    const x = generateKeyPairSync("x25519");
    pub = x.publicKey.export({ type: "spki", format: "pem" }).toString();
    await writeAtomic(
      privPath,
      x.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      0o600,
    );
  }
  if ((await readOrNull(`${keys}/server.x25519.pub.pem`)) !== pub) {
    await writeAtomic(`${keys}/server.x25519.pub.pem`, pub, 0o644);
  }
  return rawPublicX25519(pub);
}

/**
 * Makes `opts.dir` a complete demo for `opts.port`: missing keys are made, existing ones kept;
 * the config and profile are rewritten when they differ from this version's for that port.
 */
export async function ensureDemo(opts: DemoOptions): Promise<DemoFiles> {
  const config = `${opts.dir}/siglatchd.yaml`;
  const profile = `${opts.dir}/client.yaml`;
  const oldConfig = await readOrNull(config);
  const oldPort = oldConfig === null ? undefined : portOfConfig(oldConfig);
  const port = opts.port ?? oldPort ?? DEFAULT_DEMO_PORT;
  const keys = `${opts.dir}/keys`;
  // The demo dir itself only needs to be passable: the network part (an unprivileged user
  // when the demo runs as root) reaches its state and socket dirs through it.
  await Deno.mkdir(opts.dir, { recursive: true, mode: 0o711 });
  await Deno.chmod(opts.dir, 0o711);
  await Deno.mkdir(keys, { recursive: true, mode: 0o700 });
  const serverPublic = await serverKeys(keys);
  if ((await readOrNull(`${keys}/demo.hmac`)) === null) {
    const hmac = new Uint8Array(randomBytes(32)).toBase64() + "\n";
    await writeAtomic(`${keys}/demo.hmac`, hmac, 0o600);
  }
  if ((await readOrNull(`${keys}/web.token`)) === null) {
    await writeAtomic(`${keys}/web.token`, newToken() + "\n", 0o600);
  }
  const changes: string[] = [];
  const wantProfile = demoProfile(port, serverPublic);
  const wantConfig = demoConfig(port, opts.runtimeDir);
  if (oldConfig !== null && oldConfig !== wantConfig) {
    changes.push(
      oldPort !== undefined && oldPort !== port
        ? `port ${oldPort} → ${port}: rewrote siglatchd.yaml and client.yaml (keys kept)`
        : "rewrote siglatchd.yaml for this version of siglatch (keys kept)",
    );
  }
  if ((await readOrNull(profile)) !== wantProfile) await writeAtomic(profile, wantProfile, 0o600);
  if (oldConfig !== wantConfig) await writeAtomic(config, wantConfig, 0o600);
  const webToken = (await Deno.readTextFile(`${keys}/web.token`)).trim();
  return { config, profile, port, created: oldConfig === null, changes, webToken };
}

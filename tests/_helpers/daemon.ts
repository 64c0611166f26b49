/**
 * Test fixtures: a temp dir with real keys and a config, a real daemon subprocess, and a
 * real UDP client.
 * @module
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { stringify } from "yaml";
import { RUN_FLAGS } from "./flags.ts";
import { type SendOptions, sendRequest, type SendResult } from "../../src/client/send.ts";

/** Repository root. */
export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Flags the daemon runs with in tests (same as the shipped task). */
export { RUN_FLAGS };

/** A free UDP port on 127.0.0.1 (bound, read, closed). */
export function freeUdpPort(host = "127.0.0.1"): number {
  const c = Deno.listenDatagram({ transport: "udp", hostname: host, port: 0 });
  const port = (c.addr as Deno.NetAddr).port;
  c.close();
  return port;
}

/** A test environment on disk. */
export interface Fixture {
  /** Temp directory. */
  dir: string;
  /** Config path. */
  config: string;
  /** UDP port. */
  port: number;
  /** Server public key (raw). */
  serverPublic: Uint8Array;
  /** HMAC key of user 1 (`alice`). */
  aliceKey: Uint8Array;
  /** Profile path for alice. */
  profile: string;
  /** Removes the directory. */
  cleanup(): Promise<void>;
}

/** Options for a fixture. */
export interface FixtureOptions {
  /** Extra actions (ids 10+). */
  actions?: Record<string, unknown>[];
  /** Action names alice may run besides ping. */
  aliceActions?: (string | number)[];
  /** Extra fields for alice. */
  alice?: Record<string, unknown>;
  /** More users. */
  users?: Record<string, unknown>[];
  /** Extra fields for the server. */
  server?: Record<string, unknown>;
  /** Extra top-level sections. */
  top?: Record<string, unknown>;
  /** Listen address (default 127.0.0.1:<free>). */
  listen?: string[];
  /** Shell scripts to write into the dir (name → body); `$DIR` in actions is replaced. */
  scripts?: Record<string, string>;
  /**
   * Make the dir world-writable (sticky, mode 1777): actions run as the unprivileged user
   * by default, so scripts that write next to themselves need it.
   */
  writable?: boolean;
}

/** Creates keys, config and a client profile in a temp dir. */
export async function makeFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-test-" });
  await Deno.chmod(dir, opts.writable ? 0o1777 : 0o755);
  const port = freeUdpPort();
  const x = generateKeyPairSync("x25519");
  const xPub = x.publicKey.export({ type: "spki", format: "der" });
  const serverPublic = new Uint8Array(xPub.subarray(xPub.length - 32));
  await Deno.writeTextFile(
    `${dir}/server.pem`,
    x.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    { mode: 0o600 },
  );
  for (const [name, body] of Object.entries(opts.scripts ?? {})) {
    await Deno.writeTextFile(`${dir}/${name}`, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    await Deno.chmod(`${dir}/${name}`, 0o755);
  }
  const withDir = <T>(v: T): T => JSON.parse(JSON.stringify(v).replaceAll("$DIR", dir));
  const aliceKey = new Uint8Array(randomBytes(32));
  await Deno.writeTextFile(`${dir}/alice.hmac`, aliceKey.toBase64() + "\n", { mode: 0o600 });
  const config = {
    servers: [{
      name: "main",
      listen: opts.listen ?? [`127.0.0.1:${port}`],
      key_file: "server.pem",
      ...withDir(opts.server ?? {}),
    }],
    users: [
      {
        id: 1,
        name: "alice",
        hmac_key_file: "alice.hmac",
        actions: ["ping", "list_actions", ...(opts.aliceActions ?? [])],
        ...opts.alice,
      },
      ...(opts.users ?? []),
    ],
    actions: [
      { id: 1, name: "ping", type: "builtin", builtin: "ping" },
      { id: 2, name: "list_actions", type: "builtin", builtin: "list_actions" },
      ...withDir(opts.actions ?? []),
    ],
    state: { path: "state" },
    admin: { socket: "run/admin.sock" },
    logging: { level: "info", format: "json", drop_log_rate: 1000 },
    ...withDir(opts.top ?? {}),
  };
  await Deno.writeTextFile(`${dir}/siglatchd.yaml`, stringify(config));
  const actionIds: Record<string, number> = {};
  for (const a of config.actions as { id: number; name: string }[]) actionIds[a.name] = a.id;
  await Deno.writeTextFile(
    `${dir}/alice.yaml`,
    stringify({
      host: "127.0.0.1",
      port,
      server_public_key: serverPublic.toBase64(),
      user_id: 1,
      hmac_key_file: "alice.hmac",
      timeout: 1,
      retries: 1,
      actions: actionIds,
    }),
  );
  return {
    dir,
    config: `${dir}/siglatchd.yaml`,
    port,
    serverPublic,
    aliceKey,
    profile: `${dir}/alice.yaml`,
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/** A running daemon subprocess. */
export interface DaemonProcess {
  /** The child. */
  child: Deno.ChildProcess;
  /** Everything it wrote to stderr so far. */
  logs(): string;
  /** Parsed JSON log lines so far. */
  records(): Record<string, unknown>[];
  /** Waits for a log line matching `re` (rejects after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** Sends a signal and waits for exit; returns the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/**
 * Starts `siglatch serve --config <config>` and waits until it is ready; `runFlags`
 * replaces the `deno run` flags of the shipped task (e.g. what `siglatch permissions` prints);
 * `env` is added to the environment.
 */
export async function startDaemon(
  config: string,
  extraArgs: string[] = [],
  runFlags: readonly string[] = RUN_FLAGS,
  env: Record<string, string> = {},
): Promise<DaemonProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...runFlags, `${ROOT}/main.ts`, "serve", "--config", config, ...extraArgs],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].re.test(text)) {
          waiters[i].resolve();
          waiters.splice(i, 1);
        }
      }
    }
  };
  const pumps = Promise.all([pump(child.stderr), pump(child.stdout)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const proc: DaemonProcess = {
    child,
    logs: () => text,
    records: () =>
      text.split("\n").filter((l) => l.startsWith("{")).map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return {};
        }
      }),
    waitFor: (re, ms = 10_000) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(text)) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${re} in daemon log:\n${text}`)),
          ms,
        );
        waiters.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
        status.then(() => {
          if (!re.test(text)) {
            clearTimeout(timer);
            reject(new Error(`daemon exited while waiting for ${re}:\n${text}`));
          }
        });
      }),
    stop: async (signal = "SIGTERM") => {
      if (!exited) {
        try {
          child.kill(signal);
        } catch {
          // gone
        }
      }
      const s = await status;
      await pumps;
      return s.code;
    },
  };
  await proc.waitFor(/siglatchd ready/, 20_000);
  return proc;
}

/**
 * A request as alice to `fx` on 127.0.0.1: action 1, waits, 1500 ms per attempt, no retry;
 * `over` replaces any of these (for `sendRequest` and `ClientSession.open`).
 */
export function aliceOptions(fx: Fixture, over: Partial<SendOptions> = {}): SendOptions {
  return {
    host: "127.0.0.1",
    port: fx.port,
    serverPublic: fx.serverPublic,
    userId: 1,
    auth: { kind: "hmac", key: fx.aliceKey },
    actionId: 1,
    wait: true,
    timeoutMs: 1500,
    retries: 0,
    ...over,
  };
}

/** Sends one request as alice (in-process client over real UDP). */
export function aliceRequest(
  fx: Fixture,
  actionId: number,
  payload = "",
  opts: { bind?: string; timeoutMs?: number; retries?: number } = {},
): Promise<SendResult> {
  return sendRequest(aliceOptions(fx, {
    actionId,
    payload: new TextEncoder().encode(payload),
    bind: opts.bind,
    timeoutMs: opts.timeoutMs ?? 1500,
    retries: opts.retries ?? 0,
  }));
}

/**
 * Starts the CLI as a subprocess (stdout and stderr piped, NO_COLOR set, stdin closed unless
 * `stdin` is "piped"); the caller waits for it (`output()`) or ends it.
 */
export function spawnCli(
  args: string[],
  opts: { stdin?: "piped" | "null"; env?: Record<string, string> } = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, `${ROOT}/main.ts`, ...args],
    stdin: opts.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...opts.env },
  }).spawn();
}

/** Runs the CLI as a subprocess; returns exit code, stdout, stderr. */
export async function runCli(
  args: string[],
  opts: { stdin?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawnCli(args, {
    stdin: opts.stdin !== undefined ? "piped" : "null",
    env: opts.env,
  });
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

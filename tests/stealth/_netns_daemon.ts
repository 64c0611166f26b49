/**
 * A real siglatchd in the server namespace of a fresh namespace pair, for stealth tests:
 * the fixture, the daemon and their cleanup in one place, and the client side (profiles for
 * alice, `siglatch send` in the client namespace).
 * @module
 */
import { stringify } from "yaml";
import { type Fixture, type FixtureOptions, makeFixture, ROOT } from "../_helpers/daemon.ts";
import { RUN_FLAGS } from "../_helpers/flags.ts";
import {
  type NetnsDaemon,
  type NetnsPair,
  skipNetns,
  startDaemonIn,
  withNetnsPair,
} from "../_helpers/netns.ts";

/**
 * Declares a namespace test (ignored, with the reason printed, where namespaces cannot be
 * made, or when `skip`); daemons and child processes outlive single test ops here.
 */
export function netnsTest(name: string, fn: () => Promise<void>, skip = false): void {
  Deno.test({
    name,
    ignore: skipNetns() || skip,
    sanitizeOps: false,
    sanitizeResources: false,
    fn,
  });
}

/** A namespace test whose whole body runs with a daemon: {@linkcode withNetnsDaemon}. */
export function netnsDaemonTest(
  name: string,
  opts: NetnsDaemonOptions,
  fn: (c: NetnsDaemonCase) => Promise<void>,
  skip = false,
): void {
  netnsTest(name, () => withNetnsDaemon(opts, fn), skip);
}

/** What a test body gets from {@linkcode withNetnsDaemon}. */
export interface NetnsDaemonCase {
  /** The namespace pair. */
  pair: NetnsPair;
  /** Keys, config and profile of the daemon. */
  fx: Fixture;
  /** The daemon running in `pair.server`. */
  daemon: NetnsDaemon;
  /** Writes a profile of alice named `name` with `extra` fields; its path. */
  profile(name: string, extra?: Record<string, unknown>): Promise<string>;
}

/** Options of {@linkcode withNetnsDaemon}. */
export interface NetnsDaemonOptions {
  /** The server's UDP port (listened on the server address of the pair). */
  port: number;
  /** Extra server fields (e.g. `knock`). */
  server?: FixtureOptions["server"];
  /** Extra top-level sections. */
  top?: FixtureOptions["top"];
  /** Runs after the fixture is written and before the daemon starts (secrets, addresses). */
  prepare?: (pair: NetnsPair, fx: Fixture) => Promise<void>;
  /** Runs after the test body passed and the daemon stopped (checks of what it left). */
  afterStop?: (pair: NetnsPair) => Promise<void>;
}

/**
 * Creates a namespace pair and a fixture listening on `pair.serverIp:port`, starts the
 * daemon in the server namespace, runs `fn`, always stops the daemon and removes the
 * fixture, then runs `afterStop` (the pair is removed by `withNetnsPair`).
 */
export async function withNetnsDaemon(
  opts: NetnsDaemonOptions,
  fn: (c: NetnsDaemonCase) => Promise<void>,
): Promise<void> {
  await withNetnsPair(async (pair) => {
    const fx = await makeFixture({
      listen: [`${pair.serverIp}:${opts.port}`],
      server: opts.server,
      top: opts.top,
    });
    let daemon: NetnsDaemon | undefined;
    try {
      await opts.prepare?.(pair, fx);
      daemon = await startDaemonIn(pair.server, fx.config);
      const profile = (name: string, extra: Record<string, unknown> = {}) =>
        writeProfile(fx, name, pair.serverIp, opts.port, extra);
      await fn({ pair, fx, daemon, profile });
    } finally {
      await daemon?.stop();
      await fx.cleanup();
    }
    await opts.afterStop?.(pair);
  });
}

/** Writes a profile for alice in the fixture's dir (no retries, 1 s timeout); its path. */
async function writeProfile(
  fx: Fixture,
  name: string,
  host: string,
  port: number,
  extra: Record<string, unknown>,
): Promise<string> {
  const path = `${fx.dir}/${name}.yaml`;
  await Deno.writeTextFile(
    path,
    stringify({
      host,
      port,
      server_public_key: fx.serverPublic.toBase64(),
      user_id: 1,
      hmac_key_file: "alice.hmac",
      timeout: 1,
      retries: 0,
      actions: { ping: 1 },
      ...extra,
    }),
  );
  return path;
}

/** Runs `siglatch send -p PROFILE ping` in the client namespace; the exit code (0 or 3). */
export async function sendPing(pair: NetnsPair, profile: string): Promise<number> {
  const r = await pair.run(pair.client, [
    Deno.execPath(),
    ...RUN_FLAGS,
    `${ROOT}/main.ts`,
    "send",
    "-p",
    profile,
    "ping",
  ], { timeoutMs: 30_000 });
  if (r.code !== 0 && r.code !== 3) throw new Error(`send: ${r.code} ${r.stderr}`);
  return r.code;
}

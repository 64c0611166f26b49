/**
 * What a valid-request child needs to reach the daemon: written by the harness as JSON
 * into the fixture directory, passed with `--target FILE`.
 * @module
 */
import type { SendOptions } from "../../src/client/send.ts";

/** A daemon and a user allowed to run `actionId`. */
export interface Target {
  /** UDP port on `host`. */
  port: number;
  /** Daemon address (default 127.0.0.1). */
  host?: string;
  /** Server X25519 public key, base64. */
  serverPublic: string;
  /** User id. */
  userId: number;
  /** The user's HMAC key, base64. */
  hmacKey: string;
  /** A builtin action that replies (ping). */
  actionId: number;
}

/** Decoded target. */
export interface LoadedTarget {
  /** UDP port on `host`. */
  port: number;
  /** Daemon address (default 127.0.0.1). */
  host?: string;
  /** Server X25519 public key. */
  serverPublic: Uint8Array;
  /** User id. */
  userId: number;
  /** The user's HMAC key. */
  hmacKey: Uint8Array;
  /** Action id. */
  actionId: number;
}

/** Writes a target file. */
export async function writeTarget(
  path: string,
  t: Omit<Target, "serverPublic" | "hmacKey"> & { serverPublic: Uint8Array; hmacKey: Uint8Array },
): Promise<void> {
  const out: Target = {
    ...t,
    serverPublic: t.serverPublic.toBase64(),
    hmacKey: t.hmacKey.toBase64(),
  };
  await Deno.writeTextFile(path, JSON.stringify(out), { mode: 0o600 });
}

/** Reads a target file. */
export async function readTarget(path: string): Promise<LoadedTarget> {
  const t = JSON.parse(await Deno.readTextFile(path)) as Target;
  return {
    ...t,
    serverPublic: Uint8Array.fromBase64(t.serverPublic),
    hmacKey: Uint8Array.fromBase64(t.hmacKey),
  };
}

/**
 * The target's user asking for its action from `bind`, waiting for the reply; `over` sets the
 * rest (timeout, retries, host when not the target's, cookie jar).
 */
export function targetRequest(
  target: LoadedTarget,
  bind: string,
  over: Partial<SendOptions> & Pick<SendOptions, "timeoutMs" | "retries">,
): SendOptions {
  return {
    host: target.host ?? "127.0.0.1",
    port: target.port,
    serverPublic: target.serverPublic,
    userId: target.userId,
    auth: { kind: "hmac", key: target.hmacKey },
    actionId: target.actionId,
    bind,
    wait: true,
    ...over,
  };
}

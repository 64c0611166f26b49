/**
 * Two real daemons sharing one real Redis state store (a cluster of two nodes), started and
 * always stopped around a test body, and polling for what the other node picks up later.
 * @module
 */
import { type DaemonProcess, type Fixture, makeFixture, startDaemon } from "./daemon.ts";
import { type RedisServer, startRedis } from "./redis.ts";

/** The two nodes of a cluster test. */
export interface TwoNodes {
  /** The shared Redis. */
  redis: RedisServer;
  /** Node A's fixture. */
  a: Fixture;
  /** Node B's fixture. */
  b: Fixture;
  /** Node A's daemon. */
  nodeA: DaemonProcess;
  /** Node B's daemon. */
  nodeB: DaemonProcess;
}

/**
 * Starts Redis and two daemons whose `state` is that Redis under `prefix` (with `top` added
 * to both configs; with `shareKeys`, B also gets A's server key and alice's key), runs `fn`,
 * then stops both daemons, removes both fixtures and stops Redis.
 */
export async function withTwoNodes(
  opts: { prefix: string; top?: Record<string, unknown>; shareKeys?: boolean },
  fn: (nodes: TwoNodes) => Promise<void>,
): Promise<void> {
  const redis = await startRedis();
  const state = { redis: redis.url, key_prefix: opts.prefix };
  const a = await makeFixture({ top: { state, ...opts.top } });
  const b = await makeFixture({ top: { state, ...opts.top } });
  if (opts.shareKeys) {
    await Deno.copyFile(`${a.dir}/server.pem`, `${b.dir}/server.pem`);
    await Deno.copyFile(`${a.dir}/alice.hmac`, `${b.dir}/alice.hmac`);
  }
  const nodeA = await startDaemon(a.config);
  const nodeB = await startDaemon(b.config);
  try {
    await fn({ redis, a, b, nodeA, nodeB });
  } finally {
    await nodeA.stop();
    await nodeB.stop();
    await a.cleanup();
    await b.cleanup();
    await redis.stop();
  }
}

/** Polls `check` every 250 ms until it is true or `ms` passed; returns the last result. */
export async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return await check();
}

/**
 * Starts a real redis-server on a free loopback port for one test, without persistence.
 * @module
 */

/** A running redis-server. */
export interface RedisServer {
  /** redis:// URL. */
  url: string;
  /** Stops it. */
  stop(): Promise<void>;
}

/** Starts redis-server on a free port and waits until it accepts connections. */
export async function startRedis(): Promise<RedisServer> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const child = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 100; i++) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url: `redis://127.0.0.1:${port}/0`,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      await child.status;
    },
  };
}

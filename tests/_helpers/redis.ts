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

/** Extra settings for {@linkcode startRedis}. */
export interface RedisStartOptions {
  /** More redis-server arguments (`--requirepass x`, `--user ...`). */
  args?: string[];
  /** Serve TLS only, with this certificate and key (PEM files); the URL is then rediss://. */
  tls?: { cert: string; key: string; ca: string };
}

/** Starts redis-server on a free port and waits until it accepts connections. */
export async function startRedis(opts: RedisStartOptions = {}): Promise<RedisServer> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const listen = opts.tls
    ? [
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--tls-cert-file",
      opts.tls.cert,
      "--tls-key-file",
      opts.tls.key,
      "--tls-ca-cert-file",
      opts.tls.ca,
      "--tls-auth-clients",
      "no",
    ]
    : ["--port", String(port)];
  const child = new Deno.Command("redis-server", {
    args: [
      ...listen,
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      ...(opts.args ?? []),
    ],
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
    url: `${opts.tls ? "rediss" : "redis"}://127.0.0.1:${port}/0`,
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

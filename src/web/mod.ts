/**
 * The daemon's web listener from its config: secrets are read at start (before the
 * network part drops root), then {@linkcode startWeb} serves `/metrics` and the dashboard.
 * A listener that cannot start is logged and the daemon serves on without it.
 * @module
 */
import type { Config } from "../config/schema.ts";
import type { AdminControl } from "../admin/control.ts";
import { logger } from "../util/log.ts";
import { readToken } from "./auth.ts";
import { startWeb, type WebServer } from "./server.ts";

export { startWeb, type WebServer } from "./server.ts";

/** What the web listener needs from files. */
export interface WebSecrets {
  /** Login token. */
  token?: string;
  /** PEM certificate chain and key. */
  tls?: { cert: string; key: string };
}

/** Reads the token and TLS files the `admin` section names (none when there is no listener). */
export async function readWebSecrets(config: Config): Promise<WebSecrets> {
  const a = config.admin;
  if (!a.web_listen) return {};
  return {
    token: a.token_file ? await readToken(a.token_file) : undefined,
    tls: a.tls_cert && a.tls_key
      ? { cert: await Deno.readTextFile(a.tls_cert), key: await Deno.readTextFile(a.tls_key) }
      : undefined,
  };
}

/** Starts the web listener the config asks for; undefined when none or when it failed. */
export async function startDaemonWeb(
  config: Config,
  control: AdminControl,
  metrics: () => string,
  secrets: WebSecrets,
): Promise<WebServer | undefined> {
  const listen = config.admin.web_listen;
  if (!listen) return undefined;
  const log = logger("admin");
  try {
    const web = await startWeb({
      hostname: listen.host,
      port: listen.port,
      control,
      metrics,
      token: secrets.token,
      tls: secrets.tls,
    });
    log.info("web admin {url} (metrics at {url}/metrics{dash})", {
      url: web.url,
      dash: secrets.token ? ", dashboard at /" : "; no token_file: dashboard off",
    });
    return web;
  } catch (err) {
    log.error("web admin {listen} not available: {err}", {
      listen: `${listen.host}:${listen.port}`,
      err: err instanceof Error ? err.message : String(err),
    });
    return undefined;
  }
}

/**
 * The admin web listener (`admin.web_listen`): `/metrics` for Prometheus and, with
 * `admin.token_file`, the dashboard (docs/ADMIN.md). Commands go through the same
 * {@linkcode AdminControl} as the control socket; only the commands that change state from
 * a page (ban, unban, revoke, enable, disable, broadcast, reload, approve, users revoke|extend)
 * are accepted, each with the
 * session's CSRF token and from the same origin. Bodies, sessions and live streams are
 * bounded.
 * @module
 */
import type { AdminControl } from "../admin/control.ts";
import type { LogEntry } from "../admin/protocol.ts";
import { CONTENT_TYPE } from "../metrics/registry.ts";
import { APP_CSS, APP_JS, DASHBOARD_HTML, LOGIN_JS, loginPage } from "./assets.ts";
import { COOKIE, cookieValue, type Session, Sessions } from "./auth.ts";

/** Commands a page may post. */
export const WEB_COMMANDS = [
  "ban",
  "unban",
  "revoke",
  "enable",
  "disable",
  "broadcast",
  "reload",
  "approve",
  "users",
] as const;
/** The `users` operations a page may post (listing comes with `/api/state`). */
export const WEB_USERS_OPS = ["revoke", "extend"] as const;
/** Largest request body read (bytes). */
export const MAX_BODY = 16 * 1024;
/** Most live decision streams at once. */
export const MAX_STREAMS = 16;
/** Decisions queued for one slow stream before events are dropped. */
const MAX_STREAM_QUEUE = 256;
/** Recent decisions a new stream starts with. */
const BACKLOG = 20;

/** Options of {@linkcode startWeb}. */
export interface WebOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port (0: any free one). */
  port: number;
  /** Runs commands and feeds the decision stream. */
  control: AdminControl;
  /** The Prometheus text exposition. */
  metrics: () => string;
  /** Login token; without it only `/metrics` is served, without authentication. */
  token?: string;
  /** PEM certificate chain and key: HTTPS. */
  tls?: { cert: string; key: string };
  /** Clock (ms). */
  clock?: () => number;
}

/** A running web listener. */
export interface WebServer {
  /** Base URL (`http://127.0.0.1:9201`). */
  url: string;
  /** Stops listening and ends the live streams. */
  stop(): Promise<void>;
}

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  // Not no-referrer: under it Chromium sends `Origin: null` with the page's own form posts.
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

function respond(body: BodyInit | null, status: number, type?: string, extra?: HeadersInit) {
  const headers = new Headers(SECURITY_HEADERS);
  if (type) headers.set("content-type", type);
  for (const [k, v] of new Headers(extra)) headers.set(k, v);
  return new Response(body, { status, headers });
}

const json = (v: unknown, status = 200) =>
  respond(JSON.stringify(v), status, "application/json; charset=utf-8");
const text = (t: string, status: number) => respond(t, status, "text/plain; charset=utf-8");

/** Reads at most {@linkcode MAX_BODY} bytes of a body; undefined when longer. */
async function readBody(req: Request): Promise<string | undefined> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY) return undefined;
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > MAX_BODY) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) all.set(c, (off += c.length) - c.length);
  return new TextDecoder().decode(all);
}

/** True when a POST comes from this origin (Origin/Sec-Fetch-Site, when the browser sends them). */
function sameOrigin(req: Request): boolean {
  const site = req.headers.get("sec-fetch-site");
  if (site === "same-origin") return true;
  if (site !== null && site !== "none") return false;
  const origin = req.headers.get("origin");
  if (origin === null) return true;
  return origin === new URL(req.url).origin;
}

/**
 * True when the Host header names this listener by address (or `localhost`): a page on
 * another name that DNS-rebinds to a loopback address cannot read `/metrics` or post. Under
 * TLS any name is allowed (the certificate binds the name).
 */
export function hostAllowed(host: string | null, port: number, tls: boolean): boolean {
  if (tls) return true;
  if (host === null) return false;
  const m = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost)(?::(\d+))?$/.exec(host);
  if (!m) return false;
  return m[2] === undefined ? port === 80 : Number(m[2]) === port;
}

/** Starts the web listener. */
export async function startWeb(opts: WebOptions): Promise<WebServer> {
  const { control } = opts;
  const sessions = opts.token ? new Sessions(opts.token, opts.clock) : undefined;
  const secure = opts.tls !== undefined;
  const streams = new Map<ReadableStreamDefaultController<Uint8Array>, () => void>();
  const encoder = new TextEncoder();
  const abort = new AbortController();

  const sessionOf = (req: Request): Session | undefined =>
    sessions?.get(cookieValue(req.headers.get("cookie"), COOKIE));

  const cookie = (value: string, maxAge: number) =>
    `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}` +
    (secure ? "; Secure" : "");

  const metricsAllowed = (req: Request, source: string): boolean => {
    if (!sessions) return true;
    const auth = req.headers.get("authorization") ?? "";
    if (auth.startsWith("Bearer ")) return sessions.checkToken(auth.slice(7).trim(), source);
    return sessionOf(req) !== undefined;
  };

  const eventStream = (): Response => {
    if (streams.size >= MAX_STREAMS) return text("too many live streams", 503);
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let unfollow = () => {};
    let ping: ReturnType<typeof setInterval> | undefined;
    const end = () => {
      unfollow();
      clearInterval(ping);
      streams.delete(controller);
    };
    const send = (entry: LogEntry) => {
      if ((controller.desiredSize ?? 0) <= 0) return; // a slow reader loses events, not memory
      controller.enqueue(encoder.encode(`event: decision\ndata: ${JSON.stringify(entry)}\n\n`));
    };
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
        streams.set(c, end);
        c.enqueue(encoder.encode(": siglatch decisions\n\n"));
        for (const e of control.recentLogs(BACKLOG, true)) send(e);
        unfollow = control.follow((e) => {
          if (typeof e.properties.decision === "string") send(e);
        });
        ping = setInterval(() => {
          try {
            c.enqueue(encoder.encode(": keepalive\n\n"));
          } catch {
            end();
          }
        }, 15_000);
      },
      cancel: end,
    }, { highWaterMark: MAX_STREAM_QUEUE });
    return respond(body, 200, "text/event-stream; charset=utf-8");
  };

  const state = async (s: Session) => {
    const list = async (what: string) => {
      try {
        return await control.run("list", { what });
      } catch {
        return [];
      }
    };
    // Commands a build or a daemon may not have (enrollment, cluster nodes): [] then.
    const optional = async (cmd: string, args: Record<string, unknown>) => {
      try {
        const r = await control.run(cmd, args);
        return Array.isArray(r) ? r : [];
      } catch {
        return [];
      }
    };
    return {
      csrf: s.csrf,
      status: control.status(),
      servers: await list("servers"),
      users: await list("users"),
      actions: await list("actions"),
      grants: await list("grants"),
      bans: await list("bans"),
      overrides: await list("overrides"),
      messages: await control.run("messages", {}),
      enrollments: await optional("users", { op: "list" }),
      nodes: await optional("nodes", {}),
    };
  };

  let port = opts.port;
  const handle = async (req: Request, info: Deno.ServeHandlerInfo): Promise<Response> => {
    const source = (info.remoteAddr as Deno.NetAddr).hostname ?? "";
    if (!hostAllowed(req.headers.get("host"), port, secure)) {
      return text("unknown Host: use the listen address", 421);
    }
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/metrics" && req.method === "GET") {
      if (!metricsAllowed(req, source)) {
        return respond("unauthorized\n", 401, "text/plain", { "www-authenticate": "Bearer" });
      }
      return respond(opts.metrics(), 200, CONTENT_TYPE);
    }
    if (!sessions) return text("the dashboard is off: set admin.token_file\n", 404);
    if (path === "/app.css") return respond(APP_CSS, 200, "text/css; charset=utf-8");
    if (path === "/app.js") return respond(APP_JS, 200, "text/javascript; charset=utf-8");
    if (path === "/login.js") return respond(LOGIN_JS, 200, "text/javascript; charset=utf-8");
    if (path === "/login") {
      if (req.method === "GET") return respond(loginPage(), 200, "text/html; charset=utf-8");
      if (req.method !== "POST" || !sameOrigin(req)) return text("forbidden", 403);
      const body = await readBody(req);
      const token = body === undefined ? "" : new URLSearchParams(body).get("token") ?? "";
      const s = sessions.login(token, source);
      if (!s) {
        return respond(loginPage("Wrong token."), 401, "text/html; charset=utf-8");
      }
      return respond(null, 303, undefined, {
        location: "/",
        "set-cookie": cookie(s.id, 12 * 3600),
      });
    }
    const s = sessionOf(req);
    if (path === "/" && req.method === "GET") {
      if (!s) return respond(null, 303, undefined, { location: "/login" });
      return respond(DASHBOARD_HTML, 200, "text/html; charset=utf-8");
    }
    if (!s) return json({ error: "log in first" }, 401);
    if (req.method === "GET" && path === "/api/state") return json(await state(s));
    if (req.method === "GET" && path === "/api/events") return eventStream();
    if (req.method !== "POST") return text("not found", 404);
    if (!sameOrigin(req)) return json({ error: "cross-origin request refused" }, 403);
    const body = await readBody(req);
    if (body === undefined) return json({ error: "body too large" }, 413);
    if (path === "/logout") {
      if (!sessions.csrfOk(s, new URLSearchParams(body).get("csrf"))) {
        return json({ error: "bad CSRF token" }, 403);
      }
      sessions.logout(s.id);
      return respond(null, 303, undefined, { location: "/login", "set-cookie": cookie("", 0) });
    }
    if (path !== "/api/command") return text("not found", 404);
    if (!sessions.csrfOk(s, req.headers.get("x-csrf-token"))) {
      return json({ error: "bad CSRF token" }, 403);
    }
    if (!(req.headers.get("content-type") ?? "").startsWith("application/json")) {
      return json({ error: "commands are JSON (content-type: application/json)" }, 415);
    }
    let parsed: { cmd?: unknown; args?: unknown };
    try {
      parsed = JSON.parse(body);
    } catch {
      return json({ error: "body is not JSON" }, 400);
    }
    const cmd = parsed?.cmd;
    if (typeof cmd !== "string" || !(WEB_COMMANDS as readonly string[]).includes(cmd)) {
      return json({ error: `cmd must be one of ${WEB_COMMANDS.join(", ")}` }, 400);
    }
    const args = typeof parsed.args === "object" && parsed.args !== null
      ? parsed.args as Record<string, unknown>
      : {};
    if (cmd === "users" && !(WEB_USERS_OPS as readonly unknown[]).includes(args.op)) {
      return json({ error: `users: op must be one of ${WEB_USERS_OPS.join(", ")}` }, 400);
    }
    try {
      return json({ ok: true, result: await control.run(cmd, args) });
    } catch (err) {
      return json({ error: err instanceof Error ? err.message : String(err) }, 400);
    }
  };

  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: opts.hostname,
    port: opts.port,
    signal: abort.signal,
    ...(opts.tls ? { cert: opts.tls.cert, key: opts.tls.key } : {}),
    onListen: (addr) => resolve(addr as Deno.NetAddr),
    onError: () => text("internal error", 500),
  }, handle);
  const addr = await listening;
  port = addr.port;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    url: `${secure ? "https" : "http"}://${host}:${addr.port}`,
    stop: async () => {
      for (const [c, end] of [...streams]) {
        end();
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      streams.clear();
      abort.abort();
      await server.finished;
    },
  };
}

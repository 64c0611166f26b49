/**
 * The enrollment commands of the control protocol: `invite`, `users`, `approve`. Parsing
 * (words → request) for `siglatch admin`, `siglatch invite` and `siglatch users`, and the
 * daemon side that runs them against {@linkcode Enrollment}.
 * @module
 */
import { formatDuration, parseDuration } from "../config/duration.ts";
import type { Config } from "../config/schema.ts";
import { encodeInvite } from "./invite.ts";
import type { EnrolledRecord, Enrollment, InviteRecord } from "./registry.ts";

/** What the daemon side needs. */
export interface EnrollingDaemon {
  /** Invites and enrolled users. */
  readonly enrollment: Enrollment;
  /** The running runtime. */
  readonly runtime: {
    config: Config;
    servers: ReadonlyMap<
      string,
      { publicKey: Uint8Array; identity?: { server_identity: string } }
    >;
    actionIdsByName: ReadonlyMap<string, number>;
  };
}

/** Operations of `users`. */
export const USERS_OPS = ["list", "show", "revoke", "extend"] as const;

type Parsed = { ok: true; cmd: string; args: Record<string, unknown> } | {
  ok: false;
  error: string;
};

/** Splits `--flag value`, `--flag=value` and `--bool` out of words. */
function flags(
  cmd: string,
  words: string[],
  bools: string[],
  values: string[],
): { pos: string[]; f: Record<string, string | true> } | string {
  const pos: string[] = [];
  const f: Record<string, string | true> = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (!w.startsWith("--")) {
      pos.push(w);
      continue;
    }
    const eq = w.indexOf("=");
    const name = eq > 0 ? w.slice(0, eq) : w;
    if (bools.includes(name) && eq < 0) f[name] = true;
    else if (values.includes(name)) {
      const v = eq > 0 ? w.slice(eq + 1) : words[++i];
      if (v === undefined) return `${cmd}: ${name} needs a value`;
      f[name] = v;
    } else return `${cmd}: unknown option ${name} (options: ${[...bools, ...values].join(", ")})`;
  }
  return { pos, f };
}

/** Parses the words after `invite`, `users` or `approve`. */
export function parseEnrollCommand(cmd: string, rest: string[]): Parsed {
  const fail = (error: string): Parsed => ({ ok: false, error });
  if (cmd === "approve") {
    const p = flags(cmd, rest, [], []);
    if (typeof p === "string") return fail(p);
    const id = Number(p.pos[0]);
    if (p.pos.length !== 1 || !Number.isInteger(id)) return fail("approve: expected ID");
    return { ok: true, cmd, args: { id } };
  }
  if (cmd === "invite") {
    const p = flags(cmd, rest, ["--approve"], [
      "--name",
      "--actions",
      "--expires",
      "--uses",
      "--host",
      "--server",
    ]);
    if (typeof p === "string") return fail(p);
    const words = p.pos[0] === "create" ? p.pos.slice(1) : p.pos;
    if (words.length > 0) return fail(`invite: unexpected "${words[0]}"`);
    if (typeof p.f["--name"] !== "string") return fail("invite: --name is required");
    const args: Record<string, unknown> = {
      name: p.f["--name"],
      actions: typeof p.f["--actions"] === "string"
        ? (p.f["--actions"] as string).split(",").filter((s) => s !== "")
        : [],
      expires: typeof p.f["--expires"] === "string" ? p.f["--expires"] : "24h",
    };
    if (p.f["--uses"] !== undefined) {
      const n = Number(p.f["--uses"]);
      if (!Number.isInteger(n) || n < 1) return fail("invite: --uses must be a positive integer");
      args.uses = n;
    }
    if (p.f["--approve"]) args.approve = true;
    if (typeof p.f["--host"] === "string") args.host = p.f["--host"];
    if (typeof p.f["--server"] === "string") args.server = p.f["--server"];
    return { ok: true, cmd, args };
  }
  if (cmd === "users") {
    const p = flags(cmd, rest, [], ["--for"]);
    if (typeof p === "string") return fail(p);
    const [op = "list", name, extra] = p.pos;
    if (!(USERS_OPS as readonly string[]).includes(op)) {
      return fail(`users: "${op}" is not one of ${USERS_OPS.join(", ")}`);
    }
    if (extra !== undefined || (op === "list") !== (name === undefined)) {
      return fail(`users: expected list | show|revoke NAME | extend NAME --for DURATION`);
    }
    const args: Record<string, unknown> = { op, ...(name ? { name } : {}) };
    if (op === "extend") {
      if (typeof p.f["--for"] !== "string") return fail("users extend: --for DURATION is required");
      args.for = p.f["--for"];
    }
    return { ok: true, cmd, args };
  }
  return fail(`unknown command "${cmd}"`);
}

function userRow(u: EnrolledRecord, now: number): Record<string, unknown> {
  return {
    id: u.id,
    name: u.name,
    kind: "enrolled",
    actions: u.actions.join(","),
    left: formatDuration(Math.max(0, u.not_after - now)),
    not_after: new Date(u.not_after).toISOString(),
    max_uses: u.max_uses ?? "-",
  };
}

function inviteRow(i: InviteRecord, now: number): Record<string, unknown> {
  return {
    id: i.id,
    name: i.name,
    kind: `invite (${i.state})`,
    actions: i.actions.join(","),
    left: formatDuration(Math.max(0, i.not_after - now)),
    not_after: new Date(i.not_after).toISOString(),
    max_uses: i.max_uses ?? "-",
  };
}

/** The host and port an invite names: `--host`, else the server's first listen address. */
function inviteTarget(
  config: Config,
  serverName: string | undefined,
  host: string | undefined,
): { server: string; host: string; port: number } {
  const server = serverName === undefined
    ? config.servers.find((s) => s.enabled)
    : config.servers.find((s) => s.name === serverName);
  if (!server) throw new Error(`invite: no server ${serverName ?? "enabled"}`);
  if (server.mode === "insecure") throw new Error("invite: enrollment needs a secure server");
  const listen = server.listen[0];
  const h = host ?? listen.host;
  if (h === "0.0.0.0" || h === "::") {
    throw new Error(`invite: server ${server.name} listens on ${h}: name the address with --host`);
  }
  return { server: server.name, host: h, port: listen.port };
}

/** Runs the enrollment commands for the control socket (errors become `CommandError`s). */
export function enrollCommands(
  daemon: EnrollingDaemon,
  clock: () => number = Date.now,
): Record<string, (args: Record<string, unknown>) => Promise<unknown>> {
  const reg = daemon.enrollment;
  return {
    invite: async (args) => {
      const rt = daemon.runtime;
      const actions = Array.isArray(args.actions) ? args.actions.map(String) : [];
      for (const a of actions) {
        if (!rt.actionIdsByName.has(a)) throw new Error(`invite: no action named "${a}"`);
      }
      const expiresMs = parseDuration(String(args.expires ?? "24h"));
      if (expiresMs === undefined) throw new Error(`invite: bad duration "${args.expires}"`);
      const t = inviteTarget(
        rt.config,
        typeof args.server === "string" ? args.server : undefined,
        typeof args.host === "string" ? args.host : undefined,
      );
      const { record, secret } = await reg.createInvite({
        name: String(args.name),
        actions,
        expiresMs,
        uses: typeof args.uses === "number" ? args.uses : undefined,
        approve: args.approve === true,
      });
      const invite = encodeInvite({
        host: t.host,
        port: t.port,
        id: record.id,
        secret,
        serverPublic: rt.servers.get(t.server)!.publicKey,
        ...identityPin(rt.servers.get(t.server)!.identity?.server_identity),
      });
      return {
        invite,
        id: record.id,
        name: record.name,
        expires: new Date(record.not_after).toISOString(),
        approve: record.approve,
        message: invite,
      };
    },
    users: async (args) => {
      const now = clock();
      await reg.sync();
      const name = typeof args.name === "string" ? args.name : "";
      switch (args.op) {
        case "show": {
          const u = reg.find(name);
          const i = reg.invites().find((x) => x.name === name && x.state !== "used");
          if (!u && !i) throw new Error(`users: no enrolled user or invite named "${name}"`);
          return u ? userRow(u, now) : inviteRow(i!, now);
        }
        case "revoke":
          if (!(await reg.revoke(name))) throw new Error(`users: nothing named "${name}"`);
          return { message: `revoked ${name}` };
        case "extend": {
          const ms = parseDuration(String(args.for));
          if (ms === undefined) throw new Error(`users extend: bad duration "${args.for}"`);
          const until = await reg.extend(name, ms);
          return { message: `${name} now expires at ${new Date(until).toISOString()}` };
        }
        default:
          return [
            ...reg.users().map((u) => userRow(u, now)),
            ...reg.invites().filter((i) => i.state !== "used").map((i) => inviteRow(i, now)),
          ];
      }
    },
    approve: async (args) => {
      const inv = await reg.approve(Number(args.id));
      return { message: `approved invite ${inv.id} (${inv.name}): its enroll completes now` };
    },
  };
}

/** The invite's identity pin from the server's (base64) identity, when it has one. */
function identityPin(identity: string | undefined): { identity?: Uint8Array } {
  return identity === undefined ? {} : { identity: Uint8Array.fromBase64(identity) };
}

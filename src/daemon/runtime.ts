/**
 * The runtime view of a validated config: keys loaded, references resolved, lookups by id.
 * Built completely before it is used, so a reload can build a new one off to the side and
 * swap it in one assignment.
 * @module
 */
import type { ActionConfig, Config, ServerConfig, UserConfig } from "../config/schema.ts";
import { readEd25519Public, readHmacKey } from "../crypto/keyfile.ts";
import { loadServerKey } from "../crypto/key_at_rest.ts";
import { loadIdentitySeed } from "../crypto/identity_key.ts";
import { RequestOpener, type UserVerifier } from "../wire/mod.ts";
import { resolveRunAs, type RunAs, type RunAsIds } from "../util/sysdb.ts";
import type { PoolServer, PoolUser } from "./open_worker.ts";
import type { KeyNotice } from "../wire/reply_body.ts";
import { OpenPool } from "./open_pool.ts";
import { loadPlugins, type PluginSet } from "../plugins/registry.ts";

/** A user as the daemon needs it. */
export interface UserRuntime {
  /** The user's config. */
  config: UserConfig;
  /** Keys the server verifies with. */
  verifier: UserVerifier;
  /** Ids of the actions this user may run. */
  actionIds: Set<number>;
  /** The new HMAC key replies to requests made with the previous one carry (src/rotation/). */
  keyNotice?: { hmac: string };
}

/** An action as the daemon needs it. */
export interface ActionRuntime {
  /** The action's config. */
  config: ActionConfig;
  /**
   * Who its command and destructor run as: its `run_as`, else `execution.default_run_as`,
   * else the first of {@linkcode DEADDROP_DEFAULT_USERS} that exists. Set for every action
   * that runs a command (exec, or an argv destructor); undefined for the others.
   */
  runAs?: RunAsIds;
}

/** A dead drop with its prefix as bytes. */
export interface DeadDropRuntime {
  /** Name. */
  name: string;
  /** Prefix bytes. */
  prefix: Uint8Array;
  /** Handler action id. */
  handlerId: number;
  /** Servers it applies to (all when undefined). */
  servers?: Set<string>;
  /** Who the handler runs as for this drop. */
  runAs: RunAsIds;
}

/**
 * The unprivileged users commands run as when the config names nobody, in order: dead drops
 * whose drop and handler name no `run_as`, and actions when `execution.default_run_as` is
 * not set.
 */
export const DEADDROP_DEFAULT_USERS = ["siglatch", "nobody"] as const;

function resolveOrThrow(runAs: RunAs, field: string): RunAsIds {
  const r = resolveRunAs(runAs);
  if (typeof r === "string") throw new Error(`${field}: ${r}`);
  return r;
}

/** The first of {@linkcode DEADDROP_DEFAULT_USERS} that exists; throws naming `field` if none. */
function unprivilegedUser(field: string): RunAsIds {
  for (const user of DEADDROP_DEFAULT_USERS) {
    const r = resolveRunAs(user);
    if (typeof r !== "string") return r;
  }
  throw new Error(
    `${field}: no unprivileged user (${DEADDROP_DEFAULT_USERS.join(", ")}) exists to run ` +
      "commands as; create one or set run_as",
  );
}

function deadDropRunAs(
  drop: Config["deaddrops"][number],
  handler: ActionRuntime,
): RunAsIds {
  if (drop.run_as !== undefined) {
    return resolveOrThrow(drop.run_as, `deaddrops.${drop.name}.run_as`);
  }
  // Only the handler's own run_as: a configured default does not reach unauthenticated drops.
  if (handler.config.run_as !== undefined && handler.runAs) return handler.runAs;
  return unprivilegedUser(`deaddrops.${drop.name}`);
}

/** Does this action start a command (its own, or an argv destructor)? */
function runsCommand(a: ActionConfig): boolean {
  return a.type === "exec" || a.type === "plugin" || Array.isArray(a.destructor);
}

/**
 * Who `a`'s commands run as: its `run_as`, else `execution.default_run_as`, else the
 * unprivileged user; undefined for actions that start no command. Root only when named.
 */
function actionRunAs(a: ActionConfig, config: Config): RunAsIds | undefined {
  if (a.run_as !== undefined) return resolveOrThrow(a.run_as, `actions.${a.name}.run_as`);
  if (!runsCommand(a)) return undefined;
  const dflt = config.execution.default_run_as;
  if (dflt !== undefined) return resolveOrThrow(dflt, "execution.default_run_as");
  return unprivilegedUser(`actions.${a.name}`);
}

/** A server as the daemon needs it. */
export interface ServerRuntime {
  /** The server's config. */
  config: ServerConfig;
  /** Opens this server's packets. */
  opener: RequestOpener;
  /** The server's X25519 public key. */
  publicKey: Uint8Array;
  /** The server's X25519 private key (the open workers build their own openers from it). */
  privateKey: Uint8Array;
  /** Dead drops that apply here, longest prefix first. */
  deadDrops: DeadDropRuntime[];
  /** The previous key during a rotation's grace period (src/rotation/). */
  previous?: { x25519Private: Uint8Array; x25519Public: Uint8Array };
  /** What replies to requests sealed to the previous key carry. */
  notice?: KeyNotice;
  /** The identity's Ed25519 seed (`identity_key_file`), when configured. */
  identitySeed?: Uint8Array;
  /** The identity pin and the current key's certificate (base64), handed out to clients. */
  identity?: { server_identity: string; server_key_cert: string };
}

/** Everything the daemon looks up while serving. */
export interface Runtime {
  /** The config it was built from. */
  config: Config;
  /** Servers by name. */
  servers: Map<string, ServerRuntime>;
  /** Users by id. */
  users: Map<number, UserRuntime>;
  /** Actions by id. */
  actions: Map<number, ActionRuntime>;
  /** Action ids by name. */
  actionIdsByName: Map<string, number>;
  /** Plugins of `plugins.dir` as loaded with this runtime (broken ones in `errors`). */
  plugins?: PluginSet;
}

/**
 * Turns a dead-drop prefix (`hex:0a0b` or text) into bytes; throws on bad hex (the
 * schema refuses it first, with the prefix's line and column).
 */
export function deadDropPrefix(text: string): Uint8Array {
  if (text.startsWith("hex:")) return Uint8Array.fromHex(text.slice(4));
  return new TextEncoder().encode(text);
}

function resolveRef(
  ref: string | number,
  byName: Map<string, number>,
  byId: Map<number, unknown>,
): number | undefined {
  if (typeof ref === "number") return byId.has(ref) ? ref : undefined;
  return byName.get(ref);
}

/**
 * Every key a config names, read and checked: servers' X25519 pairs by server name, users'
 * verifiers by user id. The privileged part reads them; the network part, which cannot read
 * the key files, gets them over its channel.
 */
export interface KeyMaterial {
  /** Server key pairs, by server name. */
  servers: Record<
    string,
    { x25519Private: Uint8Array; x25519Public: Uint8Array; identitySeed?: Uint8Array }
  >;
  /** User verifiers, by user id. */
  users: Record<number, UserVerifier>;
}

/** Reads every key file `config` names; throws an Error naming the field at fault. */
export async function readKeyMaterial(config: Config): Promise<KeyMaterial> {
  const out: KeyMaterial = { servers: {}, users: {} };
  for (const u of config.users) {
    const verifier: UserVerifier = {};
    try {
      if (u.hmac_key_file) verifier.hmacKey = await readHmacKey(u.hmac_key_file);
      if (u.ed25519_public_key_file) {
        verifier.ed25519Public = await readEd25519Public(u.ed25519_public_key_file);
      }
    } catch (err) {
      throw new Error(`users.${u.name}: ${err instanceof Error ? err.message : err}`);
    }
    out.users[u.id] = verifier;
  }
  for (const s of config.servers) {
    try {
      out.servers[s.name] = await loadServerKey(s);
    } catch (err) {
      const field = s.key_command ? "key_command" : "key_file";
      throw new Error(`servers.${s.name}.${field}: ${err instanceof Error ? err.message : err}`);
    }
    try {
      const seed = await loadIdentitySeed(s);
      if (seed) out.servers[s.name].identitySeed = seed;
    } catch (err) {
      throw new Error(
        `servers.${s.name}.identity_key_file: ${err instanceof Error ? err.message : err}`,
      );
    }
  }
  return out;
}

/**
 * Builds the runtime; throws an Error naming the field at fault when keys or references
 * fail. Keys are read from the files unless `keys` brings them.
 */
export async function buildRuntime(
  config: Config,
  clock: () => number = Date.now,
  keys?: KeyMaterial,
): Promise<Runtime> {
  const material = keys ?? await readKeyMaterial(config);
  const actions = new Map<number, ActionRuntime>();
  const actionIdsByName = new Map<string, number>();
  for (const a of config.actions) {
    actions.set(a.id, { config: a, runAs: actionRunAs(a, config) });
    actionIdsByName.set(a.name, a.id);
  }
  const users = new Map<number, UserRuntime>();
  for (const u of config.users) {
    const verifier = material.users[u.id];
    if (!verifier) throw new Error(`users.${u.name}: no key material`);
    const actionIds = new Set<number>();
    for (const ref of u.actions) {
      const id = resolveRef(ref, actionIdsByName, actions);
      if (id === undefined) throw new Error(`users.${u.name}.actions: unknown action ${ref}`);
      actionIds.add(id);
    }
    users.set(u.id, { config: u, verifier, actionIds });
  }
  const deadDrops: DeadDropRuntime[] = config.deaddrops.map((d) => {
    const id = resolveRef(d.handler, actionIdsByName, actions);
    if (id === undefined) {
      throw new Error(`deaddrops.${d.name}.handler: unknown action ${d.handler}`);
    }
    return {
      name: d.name,
      prefix: deadDropPrefix(d.prefix),
      handlerId: id,
      servers: d.servers ? new Set(d.servers) : undefined,
      runAs: deadDropRunAs(d, actions.get(id)!),
    };
  }).sort((a, b) => b.prefix.length - a.prefix.length);
  const servers = new Map<string, ServerRuntime>();
  for (const s of config.servers) {
    const keys = material.servers[s.name];
    if (!keys) throw new Error(`servers.${s.name}.key_file: no key material`);
    const opener = new RequestOpener({
      x25519Private: keys.x25519Private,
      x25519Public: keys.x25519Public,
      insecure: s.mode === "insecure",
      skewMs: s.limits.clock_skew,
      clock,
    });
    servers.set(s.name, {
      config: s,
      opener,
      publicKey: keys.x25519Public,
      privateKey: keys.x25519Private,
      ...(keys.identitySeed ? { identitySeed: keys.identitySeed } : {}),
      deadDrops: s.deaddrops
        ? deadDrops.filter((d) => d.servers === undefined || d.servers.has(s.name))
        : [],
    });
  }
  const plugins = await loadPlugins(config.plugins.dir);
  return { config, servers, users, actions, actionIdsByName, plugins };
}

/** How many open workers a config asks for: `limits.open_workers`, else one per CPU. */
export function openWorkers(config: Config): number {
  return config.limits.open_workers ?? navigator.hardwareConcurrency;
}

/** The keys the open workers need: every server's key pair and every user's verifier. */
export function openerKeys(runtime: Runtime): { servers: PoolServer[]; users: PoolUser[] } {
  return {
    servers: [...runtime.servers.values()].map((s) => ({
      name: s.config.name,
      x25519Private: s.privateKey,
      x25519Public: s.publicKey,
      insecure: s.config.mode === "insecure",
      skewMs: s.config.limits.clock_skew,
      ...(s.previous ? { previous: s.previous } : {}),
    })),
    users: [...runtime.users.values()].map((u) => ({
      id: u.config.id,
      hmacKey: u.verifier.hmacKey,
      ed25519Public: u.verifier.ed25519Public,
      ...(u.verifier.previousHmacKey ? { previousHmacKey: u.verifier.previousHmacKey } : {}),
    })),
  };
}

/**
 * Starts the open workers a runtime's config asks for (`undefined` with
 * `limits.open_workers: 0`).
 */
export async function startOpenPool(
  runtime: Runtime,
  clock?: () => number,
): Promise<OpenPool | undefined> {
  const workers = openWorkers(runtime.config);
  if (workers <= 0) return undefined;
  return await OpenPool.start({
    workers,
    ...openerKeys(runtime),
    queueLimit: runtime.config.limits.open_queue,
    clock,
  });
}

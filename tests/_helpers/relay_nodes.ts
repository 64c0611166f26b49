/**
 * Relay chains of real daemons on 127.0.0.x: a node (a fixture listening on its own loopback
 * address, alice's key shared by every hop), the relay action that points one node at the
 * next, and alice's request to the final node through the hops.
 * @module
 */
import { parse, stringify } from "yaml";
import {
  aliceOptions,
  type DaemonProcess,
  type Fixture,
  type FixtureOptions,
  freeUdpPort,
  makeFixture,
  startDaemon,
} from "./daemon.ts";
import type { SendOptions } from "../../src/client/send.ts";
import type { RelayHop } from "../../src/client/relay.ts";

/** The id of the relay action `hop` that {@linkcode addRelayAction} adds. */
export const RELAY_ID = 20;

/** One daemon of a chain. */
export interface Node {
  /** Its fixture. */
  fx: Fixture;
  /** The loopback address it listens on. */
  ip: string;
  /** Its UDP port. */
  port: number;
  /** Its X25519 public key, base64. */
  key: string;
  /** The daemon, once started. */
  d?: DaemonProcess;
}

/** A fixture listening on `ip`, with alice's key from `alice` (the same user at every hop). */
export async function node(ip: string, opts: FixtureOptions, alice?: Uint8Array): Promise<Node> {
  const port = freeUdpPort(ip);
  const fx = await makeFixture({ ...opts, listen: [`${ip}:${port}`] });
  if (alice) {
    await Deno.writeTextFile(`${fx.dir}/alice.hmac`, alice.toBase64() + "\n", { mode: 0o600 });
    fx.aliceKey = alice;
  }
  return { fx, ip, port, key: fx.serverPublic.toBase64() };
}

/** Adds to the config at `config` a relay action `hop` (id 20) with `relay`, granted to alice. */
export async function addRelayAction(
  config: string,
  relay: Record<string, unknown>,
): Promise<void> {
  const cfg = parse(await Deno.readTextFile(config)) as {
    actions: unknown[];
    users: { actions: unknown[] }[];
  };
  cfg.actions.push({ id: RELAY_ID, name: "hop", type: "relay", relay });
  cfg.users[0].actions.push("hop");
  await Deno.writeTextFile(config, stringify(cfg));
}

/**
 * Points a node's relay action at `to` (a node, with its key; or a bare address, without),
 * timeout 1500 ms; `extra` adds or replaces relay fields.
 */
export function relayTo(
  n: Node,
  to: Node | string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const target = typeof to === "string" ? to : `${to.ip}:${to.port}`;
  const key = typeof to === "string" ? {} : { server_public_key: to.key };
  return addRelayAction(n.fx.config, { to: target, ...key, timeout: "1500ms", ...extra });
}

/** A node as a relay hop of a client's path (its relay action). */
export function hop(n: Node): RelayHop {
  return {
    host: n.ip,
    port: n.port,
    serverPublic: Uint8Array.fromBase64(n.key),
    actionId: RELAY_ID,
  };
}

/** Alice's request to the final node `final` through `via` (first hop first); `over` as in aliceOptions. */
export function viaOptions(final: Node, via: Node[], over: Partial<SendOptions> = {}): SendOptions {
  return aliceOptions(final.fx, { host: final.ip, port: final.port, via: via.map(hop), ...over });
}

/**
 * Writes alice's profile `<final's dir>/<name>.yaml` for `final` through `via` (first hop
 * first; a hop's relay action is {@linkcode RELAY_ID} unless given as `[node, action]`), with
 * `fields` (timeout, retries, actions, …); returns its path.
 */
export async function writeViaProfile(
  final: Node,
  via: (Node | [Node, string | number])[],
  name: string,
  fields: Record<string, unknown>,
): Promise<string> {
  const path = `${final.fx.dir}/${name}.yaml`;
  const hops = via.map((h) => {
    const [n, action] = Array.isArray(h) ? h : [h, RELAY_ID];
    return { host: n.ip, port: n.port, server_public_key: n.key, action };
  });
  await Deno.writeTextFile(
    path,
    stringify({
      host: final.ip,
      port: final.port,
      server_public_key: final.key,
      user_id: 1,
      hmac_key_file: "alice.hmac",
      ...fields,
      via: hops,
    }),
  );
  return path;
}

/** Starts every node's daemon (all at once); each node's `d` is set once all are ready. */
export async function startAll(nodes: Node[]): Promise<void> {
  const ds = await Promise.all(nodes.map((n) => startDaemon(n.fx.config)));
  nodes.forEach((n, i) => n.d = ds[i]);
}

/** Stops every node's daemon, then removes every fixture. */
export async function stopAll(nodes: Node[]): Promise<void> {
  for (const n of nodes) await n.d?.stop();
  for (const n of nodes) await n.fx.cleanup();
}

/**
 * `siglatch serve --network-part UID:GID:USER`: the part that reads the network, started by
 * the privileged part (`monitor.ts`). It talks to the privileged part over stdin/stdout,
 * gets its key material from it (it cannot read the key files), and after it loaded its
 * code drops to USER for good, before it opens any socket or reads any datagram.
 * @module
 */
import type { KeyMaterial } from "../daemon/runtime.ts";
import { RpcChannel } from "./channel.ts";
import { decodeKeys } from "./codec.ts";
import type { DropTarget } from "./drop.ts";
import { RemoteBans, RemoteGrants, RemoteRunner } from "./remote.ts";

/** The network part's connection to the privileged part. */
export interface NetworkPart {
  /** The channel (stdin/stdout). */
  channel: RpcChannel;
  /** Who to drop to. */
  target: DropTarget;
  /** Runs actions in the privileged part. */
  runner: RemoteRunner;
  /** The grant sets, there. */
  grants: RemoteGrants;
  /** The ban mirror, there. */
  bans: RemoteBans;
  /** The key material of the privileged part's current config. */
  keys(): Promise<KeyMaterial>;
  /** Has the privileged part reload its config; its new key material. */
  reloadKeys(): Promise<KeyMaterial>;
}

/** Parses the `--network-part` value `UID:GID:USER`. */
export function parseTarget(text: string): DropTarget {
  const m = /^(\d{1,10}):(\d{1,10}):([A-Za-z0-9._-]{1,64})$/.exec(text);
  if (!m) throw new Error(`--network-part: expected UID:GID:USER, got "${text}"`);
  return { uid: Number(m[1]), gid: Number(m[2]), user: m[3] };
}

/** Connects to the privileged part over this process's stdin and stdout. */
export function connectNetworkPart(spec: string): NetworkPart {
  const target = parseTarget(spec);
  const channel = new RpcChannel(Deno.stdin.readable, Deno.stdout.writable);
  return {
    channel,
    target,
    runner: new RemoteRunner(channel),
    grants: new RemoteGrants(channel),
    bans: new RemoteBans(channel),
    keys: async () => decodeKeys(await channel.call("keys")),
    reloadKeys: async () => decodeKeys(await channel.call("reload")),
  };
}

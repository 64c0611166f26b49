/**
 * Whether a relay's session path (`src/actions/relay_paths.ts`) may still forward: the relay's
 * own policy decided again for the user and relay action that opened it, as a session decides
 * every command again (`session_path.ts`). A reload that removes the user or the action, an
 * admin `disable` of the server, the user or the action, or the user's validity running out
 * ends the path at its next datagram.
 * @module
 */
import type { PathOwner } from "../actions/relay_paths.ts";
import { decidePolicy } from "./policy.ts";
import type { Runtime } from "./runtime.ts";
import type { Overrides } from "./overrides.ts";

/** Builds the check {@linkcode RelayPaths} calls before it forwards a client's datagram. */
export function relayPathPolicy(
  runtime: () => Runtime,
  overrides: Overrides,
  clock: () => number,
): (owner: PathOwner) => boolean {
  const empty = new Uint8Array(0);
  return (owner) => {
    const rt = runtime();
    const server = rt.servers.get(owner.server);
    const user = rt.users.get(owner.userId);
    if (!server || !user || !server.config.enabled) return false;
    if (overrides.has("servers", owner.server)) return false;
    return decidePolicy({
      runtime: rt,
      server,
      user,
      actionId: owner.actionId,
      ip: owner.ip,
      payload: empty,
      now: clock(),
      disabled: overrides,
    }).ok;
  };
}

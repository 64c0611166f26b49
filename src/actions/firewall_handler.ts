/**
 * The handler of `type: firewall` actions: open the configured ports for the requester's
 * address (or the address in the payload, when allowed) through the nftables grants.
 * @module
 */
import { formatIp, type IpAddress } from "../util/ip.ts";
import { ReplyStatus } from "../wire/mod.ts";
import { grantAddress } from "./firewall.ts";
import type { ActionSessions } from "./sessions.ts";
import { sessionRequest } from "./exec_handler.ts";
import type { ActionHandler, ActionRequest } from "./handler.ts";

/**
 * The address a grant may go to: the one sealed in the request, else the source when this
 * datagram proved it. Never the bare source address: whoever resends a copied packet first
 * would get the grant.
 */
export function boundAddress(req: ActionRequest): IpAddress | undefined {
  return req.allowAddress ?? (req.sourceProven ? req.ip : undefined);
}

/** The handler of `type: firewall` actions. */
export function firewallHandler(sessions: () => ActionSessions | undefined): ActionHandler {
  return {
    plan(req) {
      const fw = req.action.config.firewall;
      if (!fw) return { error: "not_a_firewall_action" };
      const base = boundAddress(req);
      if (!base) return { refused: "address_not_proven" };
      const addr = grantAddress(fw, base, req.payload, req.action.config.allow_cidrs);
      if (!addr.ok) return { refused: addr.reason };
      return {
        nft: "add element",
        address: formatIp(addr.address),
        ports: fw.ports.map((p) => `${p.proto}/${p.port}`),
        timeout_ms: fw.duration,
        keepalive_ms: req.action.config.keepalive,
      };
    },
    async run(req) {
      const s = sessions();
      if (!s) return { status: ReplyStatus.Error, body: { reason: "firewall_unavailable" } };
      const base = boundAddress(req);
      if (!base) return { status: ReplyStatus.Denied, body: { reason: "address_not_proven" } };
      const r = await s.firewall(sessionRequest({ ...req, ip: base }));
      return r.ok
        ? { status: ReplyStatus.Ok, body: { data: r.data } }
        : { status: ReplyStatus.Denied, body: { reason: r.reason } };
    },
  };
}

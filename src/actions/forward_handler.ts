/**
 * The handler of `type: forward` actions (docs/RELAY.md, "Pass-through"): an allowed request
 * lets one address use a UDP port forward for `forward.duration`. The address is the one the
 * client sealed in its request, else its source when the datagram proved it (the pipeline
 * asks for that proof first, as for a firewall grant). Forwards are opened on first use and
 * kept until the daemon stops.
 * @module
 */
import { formatIp } from "../util/ip.ts";
import { ReplyStatus } from "../wire/mod.ts";
import type { ActionHandler, ActionRequest } from "./handler.ts";
import { UdpForward } from "./udp_forward.ts";

/** What the forward handler needs. */
export interface ForwardDeps {
  /** Clock (epoch ms). */
  clock: () => number;
  /** Adds to a daemon counter. */
  count: (name: string) => void;
}

/** The forward handler, with `close` for the daemon's stop. */
export interface ForwardHandler extends ActionHandler {
  /** Closes every forward. */
  close(): Promise<void>;
}

/** The address a grant goes to: sealed in the request, else the proven source; else none. */
function grantee(req: ActionRequest): string | undefined {
  if (req.allowAddress) return formatIp(req.allowAddress);
  return req.sourceProven ? req.from.hostname : undefined;
}

/** The handler of `type: forward` actions. */
export function forwardHandler(deps: ForwardDeps): ForwardHandler {
  const forwards = new Map<string, UdpForward>();
  const forwardOf = (req: ActionRequest): UdpForward => {
    const cfg = req.action.config.forward!;
    const key = `${cfg.listen.host}:${cfg.listen.port}>${cfg.to.host}:${cfg.to.port}`;
    let f = forwards.get(key);
    if (!f) {
      f = new UdpForward({
        listen: { transport: "udp", hostname: cfg.listen.host, port: cfg.listen.port },
        to: { transport: "udp", hostname: cfg.to.host, port: cfg.to.port },
        maxFlows: cfg.max_flows,
        clock: deps.clock,
        count: deps.count,
      });
      forwards.set(key, f);
    }
    return f;
  };
  return {
    run(req) {
      const cfg = req.action.config.forward;
      if (!cfg) {
        return Promise.resolve({
          status: ReplyStatus.Error,
          body: { reason: "forward_unconfigured" },
        });
      }
      const ip = grantee(req);
      if (ip === undefined) {
        return Promise.resolve({
          status: ReplyStatus.Denied,
          body: { reason: "forward_needs_address" },
        });
      }
      let f: UdpForward;
      try {
        f = forwardOf(req);
      } catch (err) {
        deps.count("forward_listen_failed");
        throw err;
      }
      const until = deps.clock() + cfg.duration;
      if (!f.allow(ip, until)) {
        return Promise.resolve({ status: ReplyStatus.Busy, body: { reason: "forward_full" } });
      }
      deps.count("forward_grants");
      return Promise.resolve({
        status: ReplyStatus.Ok,
        body: { data: { forward: `${cfg.listen.host}:${cfg.listen.port}`, address: ip, until } },
      });
    },
    plan(req) {
      const cfg = req.action.config.forward;
      return {
        forward: cfg && `${cfg.listen.host}:${cfg.listen.port}`,
        to: cfg && `${cfg.to.host}:${cfg.to.port}`,
        address: grantee(req),
        duration_ms: cfg?.duration,
      };
    },
    async close() {
      await Promise.all([...forwards.values()].map((f) => f.close()));
      forwards.clear();
    },
  };
}

/**
 * The handler of `type: relay` actions (docs/RELAY.md). The request that reached here was
 * opened and authenticated by this server and allowed by its own policy and limits; its
 * payload is a relay layer: the datagram for the next hop, sealed by the client to that hop.
 * The relay checks the datagram's shape (size, layers claimed, the next hop's mac1 when its
 * key is configured), refuses a loop (a datagram for this daemon itself, or one going back to
 * the host it came from), forwards it to the address of its own config, waits a bounded time
 * in a bounded table, and answers with the next hop's reply datagram, raw and opaque.
 * @module
 */
import { Mac1 } from "../wire/mac1.ts";
import { mac1OfV2, ReplyStatus, SUITE_V2 } from "../wire/mod.ts";
import { parseRelayPayload, RelayFlag } from "../wire/relay.ts";
import { parseIp } from "../util/ip.ts";
import type { Runtime } from "../daemon/runtime.ts";
import type { ActionConfig } from "../config/schema.ts";
import type { ActionHandler, ActionOutcome, ActionRequest } from "./handler.ts";
import { forwardDatagram, type ForwardRequest, type ForwardResult } from "./relay_forward.ts";
import type { RelayPaths } from "./relay_paths.ts";

/** Relays waiting for a reply, all relay actions together. */
export const RELAY_MAX_PENDING_TOTAL = 1024;

/** What the relay handler needs. */
export interface RelayDeps {
  /** The current runtime (own server keys, listen addresses). */
  runtime: () => Runtime;
  /** Adds to a daemon counter. */
  count: (name: string) => void;
  /** The round trip (tests may pass their own; default {@linkcode forwardDatagram}). */
  forward?: (req: ForwardRequest) => Promise<ForwardResult>;
  /** Session paths (a layer with the `Session` flag keeps one); absent: such layers are relayed
   * as plain requests. */
  paths?: RelayPaths;
}

type RelayConfig = NonNullable<ActionConfig["relay"]>;

/** The next hop's key and mac1 checkers (secure, insecure), per relay config object. */
const targets = new WeakMap<RelayConfig, { key: Uint8Array; mac1: Mac1[] } | null>();

function targetOf(cfg: RelayConfig): { key: Uint8Array; mac1: Mac1[] } | null {
  let t = targets.get(cfg);
  if (t === undefined) {
    t = null;
    if (cfg.server_public_key !== undefined) {
      const key = Uint8Array.fromBase64(cfg.server_public_key);
      t = {
        key,
        mac1: [
          new Mac1(SUITE_V2.mac1Label.secure, key),
          new Mac1(SUITE_V2.mac1Label.insecure, key),
        ],
      };
    }
    targets.set(cfg, t);
  }
  return t;
}

function refused(reason: string): ActionOutcome {
  return { status: ReplyStatus.Denied, body: { reason } };
}

/** The local address a relay sends from: the host its server listens on, unless a wildcard. */
function bindFor(runtime: Runtime, server: string, family: 4 | 6): string {
  const any = family === 6 ? "::" : "0.0.0.0";
  const listen = runtime.servers.get(server)?.config.listen.find((l) => l.family === family);
  if (!listen || listen.host === "0.0.0.0" || listen.host === "::") return any;
  return listen.host;
}

/** The handler of `type: relay` actions. */
export function relayHandler(deps: RelayDeps): ActionHandler {
  const forward = deps.forward ?? forwardDatagram;
  /** Inner datagrams in flight (by their mac1), and how many per action. */
  const pending = new Set<string>();
  const perAction = new Map<number, number>();

  const check = (req: ActionRequest): ActionOutcome | ForwardRequest => {
    const cfg = req.action.config.relay;
    if (!cfg) return { status: ReplyStatus.Error, body: { reason: "relay_unconfigured" } };
    const layer = parseRelayPayload(req.payload);
    if (!layer) return refused("relay_bad_payload");
    if (layer.hopsAfter + 1 > cfg.max_hops) return refused("relay_too_many_hops");
    const runtime = deps.runtime();
    // A datagram for this very daemon is a loop (A → A, or a chain that comes back here).
    for (const s of runtime.servers.values()) {
      if (s.opener.prefilter(layer.datagram) === null) return refused("relay_loop");
    }
    // Back to the host it came from: A → B → A.
    const to = parseIp(cfg.to.host);
    if (to && to.family === req.ip.family && to.value === req.ip.value) {
      return refused("relay_loop");
    }
    const target = targetOf(cfg);
    if (target && !target.mac1.some((m) => m.verify(layer.datagram, 16))) {
      return refused("relay_not_for_target");
    }
    return {
      to: { transport: "udp", hostname: cfg.to.host, port: cfg.to.port },
      bind: bindFor(runtime, req.server, cfg.to.family),
      datagram: layer.datagram,
      timeoutMs: cfg.timeout,
      targetPublic: target?.key,
      noReply: (layer.flags & RelayFlag.NoReply) !== 0,
      // A session opening keeps its socket as the session's path (a whole message only).
      keep: (layer.flags & (RelayFlag.Session | RelayFlag.NoReply)) === RelayFlag.Session &&
        deps.paths !== undefined && req.channel !== undefined,
    };
  };

  return {
    async run(req) {
      const fwd = check(req);
      if (!("datagram" in fwd)) {
        deps.count("relay_refused");
        return fwd;
      }
      const key = mac1OfV2(fwd.datagram)!.toHex();
      if (pending.has(key)) return refused("relay_duplicate");
      const id = req.action.config.id;
      const mine = perAction.get(id) ?? 0;
      // A NoReply layer (a fragment before the last) does not take one of the action's slots
      // (a 64 KiB message is ~70 of them), only one of all relays'.
      const full = !fwd.noReply && mine >= req.action.config.relay!.max_pending;
      if (full || pending.size >= RELAY_MAX_PENDING_TOTAL) {
        deps.count("relay_busy");
        return { status: ReplyStatus.Busy, body: { reason: "relay_busy" } };
      }
      // A full path table: busy before the next hop uses the request (the client then sends
      // its commands as plain requests, as when a server's sessions are full).
      if (fwd.keep && !deps.paths!.hasRoom(req.from)) {
        deps.count("relay_paths_full");
        return { status: ReplyStatus.Busy, body: { reason: "sessions_relay_full" } };
      }
      pending.add(key);
      if (!fwd.noReply) perAction.set(id, mine + 1);
      let res: ForwardResult;
      try {
        res = await forward(fwd);
      } finally {
        pending.delete(key);
        if (!fwd.noReply) {
          const left = (perAction.get(id) ?? 1) - 1;
          if (left > 0) perAction.set(id, left);
          else perAction.delete(id);
        }
      }
      if (!res.ok) {
        deps.count(res.reason);
        // Silence was expected: the next hop answers only the fragment that completes the
        // message, which, reordered on the way, may be any of them.
        if (fwd.noReply && res.reason !== "relay_send_failed") {
          return { status: ReplyStatus.Ok, body: {}, silent: true };
        }
        return { status: ReplyStatus.Error, body: { reason: res.reason } };
      }
      if (res.conn) {
        deps.paths!.add({
          client: req.from,
          channel: req.channel!,
          conn: res.conn,
          to: fwd.to,
          owner: { server: req.server, userId: req.user.config.id, actionId: id, ip: req.ip },
        });
      }
      deps.count("relayed");
      if (res.cookieRound) deps.count("relay_cookie_rounds");
      return { status: ReplyStatus.Relayed, body: {}, output: res.reply };
    },
    // The next hop checks the inner request's nonce itself; the relay's own durable nonce
    // and retry entry would buy nothing (every layer carries a fresh retry id) and cost a
    // store write before forwarding.
    replaySafe: () => true,
    plan(req) {
      const fwd = check(req);
      if (!("datagram" in fwd)) return { refused: fwd.body.reason };
      return {
        relay_to: `${fwd.to.hostname}:${fwd.to.port}`,
        bind: fwd.bind,
        datagram_bytes: fwd.datagram.length,
        timeout_ms: fwd.timeoutMs,
        ...(fwd.keep ? { session_path: true } : {}),
      };
    },
  };
}

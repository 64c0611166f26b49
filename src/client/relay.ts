/**
 * Requests through relays (docs/RELAY.md): the datagram for the final server is sealed to it
 * as usual, then wrapped, last hop first, as the payload of an ordinary request to each
 * relay's relay action. A reply is peeled the other way: each relay's `Relayed` reply carries
 * the next hop's reply datagram, opened with that hop's reply key.
 * @module
 */
import {
  type OpenedReply,
  type ReplyOpenResult,
  ReplyStatus,
  type SealedRequest,
  sealRequest,
  type UserAuth,
} from "../wire/mod.ts";
import { encodeRelayPayload, RELAY_STRUCTURAL_MAX_HOPS, RelayFlag } from "../wire/relay.ts";

/** One relay on the way to the final server. */
export interface RelayHop {
  /** The relay's address (IP or host name). */
  host: string;
  /** Its UDP port. */
  port: number;
  /** Its X25519 public key (32 bytes). */
  serverPublic: Uint8Array;
  /** The id of its relay action (to the next hop). */
  actionId: number;
}

/** A reply as opened through the chain; `hop` names the relay that answered itself. */
export type ChainOpenResult =
  | { ok: true; reply: OpenedReply; hop?: number }
  | { ok: false; reason: string };

/** What the client sends and how it opens what comes back. */
export interface SentDatagram {
  /** The datagram on the wire. */
  datagram: Uint8Array;
  /** Its mac1 (the AAD of a cookie reply from the first hop). */
  mac1: Uint8Array;
  /** Opens a reply to it; `exportKey` (the reply key sessions derive from) only when direct. */
  reply: { open(data: Uint8Array): ChainOpenResult | ReplyOpenResult; exportKey?(): Uint8Array };
}

/** Opens replies layer by layer, outermost first. */
class ChainOpener {
  readonly #openers: SealedRequest["reply"][];

  constructor(openers: SealedRequest["reply"][]) {
    this.#openers = openers;
  }

  /** The final server's reply key (sessions derive from it); the relays never learn it. */
  exportKey(): Uint8Array {
    return this.#openers[this.#openers.length - 1].exportKey();
  }

  open(data: Uint8Array): ChainOpenResult {
    let bytes = data;
    const last = this.#openers.length - 1;
    for (let i = 0; i <= last; i++) {
      const r = this.#openers[i].open(bytes);
      if (!r.ok) return i === 0 ? r : { ok: false, reason: `hop_${i}_${r.reason}` };
      if (i < last && r.reply.status === ReplyStatus.Relayed) {
        bytes = r.reply.body;
        continue;
      }
      return i < last ? { ok: true, reply: r.reply, hop: i } : { ok: true, reply: r.reply };
    }
    return { ok: false, reason: "empty_chain" };
  }
}

/** Options of {@linkcode wrapForChain}. */
export interface WrapOptions {
  /** The user, as at every hop. */
  userId: number;
  /** How the user authenticates (the same key at every hop). */
  auth: UserAuth;
  /** Client time, ms. */
  now: number;
  /** The first hop's cookie (fills the outermost mac2). */
  cookie?: Uint8Array;
  /** The request opens a session: every relay keeps a path for its datagrams. */
  session?: boolean;
}

/**
 * Wraps each datagram sealed to the final server for the chain `hops` (first hop first).
 * Every layer is a fresh request (own nonce and retry id: a relay forwards every attempt,
 * the final server answers a retry from its reply cache). Fragments before the last are
 * marked `NoReply`: the final server answers only the fragment that completes the message,
 * so the relays need not hold a slot (or spend a reply) for the others.
 */
export function wrapForChain(
  parts: readonly SealedRequest[],
  hops: readonly RelayHop[],
  opts: WrapOptions,
): SentDatagram[] {
  if (hops.length > RELAY_STRUCTURAL_MAX_HOPS) {
    throw new RangeError(`at most ${RELAY_STRUCTURAL_MAX_HOPS} relays fit in one datagram`);
  }
  return parts.map((part, index) => {
    const flags = index < parts.length - 1
      ? RelayFlag.NoReply
      : opts.session
      ? RelayFlag.Session
      : 0;
    let datagram = part.datagram;
    let mac1 = part.mac1;
    const openers = [part.reply];
    for (let i = hops.length - 1; i >= 0; i--) {
      const layer = sealRequest(hops[i].serverPublic, opts.auth, {
        type: "request",
        userId: opts.userId,
        actionId: hops[i].actionId,
        payload: encodeRelayPayload(hops.length - 1 - i, datagram, flags),
      }, { now: opts.now, cookie: i === 0 ? opts.cookie : undefined });
      datagram = layer.datagram;
      mac1 = layer.mac1;
      openers.unshift(layer.reply);
    }
    return { datagram, mac1, reply: new ChainOpener(openers) };
  });
}

/** A profile's `via:` entry as written. */
export interface ProfileHop {
  /** Relay address. */
  host: string;
  /** Relay port. */
  port: number;
  /** Base64 of the relay's X25519 key. */
  server_public_key: string;
  /** Relay action: its id, or a name from the profile's `actions`. */
  action: number | string;
}

/** Resolves a profile's `via:` list; throws an Error naming the entry at fault. */
export function profileHops(
  via: readonly ProfileHop[],
  actions: Readonly<Record<string, number>>,
): RelayHop[] {
  return via.map((h, i) => {
    let serverPublic: Uint8Array;
    try {
      serverPublic = Uint8Array.fromBase64(h.server_public_key);
    } catch {
      throw new Error(`via[${i}].server_public_key: not base64`);
    }
    if (serverPublic.length !== 32) {
      throw new Error(`via[${i}].server_public_key: expected base64 of 32 bytes`);
    }
    const actionId = typeof h.action === "number" ? h.action : actions[h.action];
    if (actionId === undefined) {
      throw new Error(`via[${i}].action: "${h.action}" is not in the profile's actions`);
    }
    return { host: h.host, port: h.port, serverPublic, actionId };
  });
}

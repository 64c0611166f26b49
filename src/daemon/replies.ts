/**
 * Replies: seal an answer to an authenticated request and send it back, within the
 * per-destination reply rate and the no-amplification budget.
 * @module
 */
import { SlotBuckets } from "../policy/slot_buckets.ts";
import {
  encodeReplyBody,
  type KeyNotice,
  type ReplyBody,
  type SystemMessage,
} from "../wire/reply_body.ts";
import { maxReplyBody, type ReplySealer, ReplyStatus } from "../wire/mod.ts";

/** The largest reply datagram to a source that proved its address. */
export const MAX_REPLY_DATAGRAM = 1200;

/**
 * Where the replies of one listener go: the UDP socket in the daemon, an array in the
 * in-process pipeline tests.
 */
export interface ReplyChannel {
  /** Sends one datagram to `to`; a failure is counted, never thrown. */
  send(datagram: Uint8Array, to: Deno.NetAddr): void;
  /** True once the channel cannot send any more (listener closed). */
  readonly closed: boolean;
}

/** Everything needed to answer one request. */
export interface ReplyTarget {
  /** Where to send. */
  channel: ReplyChannel;
  /** The requester's address. */
  to: Deno.NetAddr;
  /** Most bytes the reply may have: the request's size until the source proved its address. */
  budget: number;
  /** Seals to the request's ephemeral key. */
  sealer: ReplySealer;
  /** The request's nonce (the reply names it). */
  requestId: Uint8Array;
  /** The server's new key, when the request came sealed to a rotated-out one. */
  notice?: KeyNotice;
  /** The user's new HMAC key, when the request was made with the previous one. */
  userKey?: { hmac: string };
}

/** Options of {@linkcode Replies}. */
export interface RepliesOptions {
  /** Replies per second per destination address. */
  rate: number;
  /** Clock (epoch ms). */
  clock: () => number;
  /** Adds to a daemon counter. */
  count: (name: string) => void;
  /** The notices every reply carries. */
  messages: () => SystemMessage[];
}

/** Seals and sends replies, rate-limited per destination. */
export class Replies {
  readonly #buckets: SlotBuckets;
  readonly #opts: RepliesOptions;

  /** Creates the reply sender. */
  constructor(opts: RepliesOptions) {
    this.#opts = opts;
    this.#buckets = new SlotBuckets(opts.rate, 40, 65536);
  }

  /** Replies per second per destination (changed by reload). */
  set rate(perSecond: number) {
    this.#buckets.rate = perSecond;
  }

  /**
   * Sends an unsealed datagram built elsewhere (a cookie reply) within the same
   * per-destination rate; the caller guarantees it is no larger than what it answers.
   */
  sendRaw(channel: ReplyChannel, to: Deno.NetAddr, datagram: Uint8Array): boolean {
    if (!this.#buckets.take(to.hostname, this.#opts.clock())) {
      this.#opts.count("reply_rate_limited");
      return false;
    }
    if (channel.closed) return false;
    channel.send(datagram, to);
    return true;
  }

  /**
   * Seals `body` (and `output`, cut to fit) and sends it, unless the destination is over its
   * reply rate or the sealed datagram would exceed the target's budget.
   */
  send(
    target: ReplyTarget,
    status: number,
    body: ReplyBody,
    output?: Uint8Array,
    exitCode = 0,
    retaken = false,
  ): void {
    const { clock, count } = this.#opts;
    if (!retaken && !this.#buckets.take(target.to.hostname, clock())) {
      count("reply_rate_limited");
      return;
    }
    // No amplification: an unproven source never gets more bytes than it sent.
    const budget = Math.min(target.budget, MAX_REPLY_DATAGRAM);
    // A relay's answer carries the next hop's reply raw, as it came (no JSON, no notices).
    const relayed = status === ReplyStatus.Relayed;
    const msgs = relayed ? [] : this.#opts.messages();
    if (msgs.length > 0) body = { ...body, msgs };
    if (!relayed && target.notice) body = { ...body, key: target.notice };
    if (!relayed && target.userKey) body = { ...body, user_key: target.userKey };
    const encoded = relayed
      ? relayedBody(output, maxReplyBody(budget))
      : encodeReplyBody(body, output, maxReplyBody(budget));
    if (encoded === undefined) {
      count("relay_reply_too_large");
      return this.send(target, status, { reason: "relay_reply_too_large" }, undefined, 0, true);
    }
    const datagram = target.sealer.seal({
      status,
      exitCode,
      serverTime: clock(),
      requestId: target.requestId,
      seq: 0,
      final: true,
      truncated: encoded.cut,
      body: encoded.bytes,
    });
    if (datagram.length > budget) {
      count("reply_too_large");
      return;
    }
    if (target.channel.closed) return;
    target.channel.send(datagram, target.to);
  }
}

/** The next hop's reply as a relay's body, when it fits in `max` bytes (it cannot be cut). */
function relayedBody(
  output: Uint8Array | undefined,
  max: number,
): { bytes: Uint8Array; cut: boolean } | undefined {
  const bytes = output ?? new Uint8Array();
  return bytes.length <= max ? { bytes, cut: false } : undefined;
}

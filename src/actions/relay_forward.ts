/**
 * One relay round trip: send the client's datagram for the next hop from a socket of its own
 * (so the reply is matched by socket, never by guessing), wait a bounded time for one
 * datagram from exactly that hop, and hand it back. When the hop answers with a cookie reply
 * (it wants the relay's address proven) and its public key is known, the relay completes the
 * round trip once: the same bytes with mac2 filled, which only the holder of the relay's
 * address can compute. mac2 lies outside the seal, so this changes nothing the client sealed.
 * @module
 */
import {
  computeMac2,
  COOKIE_REPLY_LEN,
  mac1OfV2,
  MAC2_LEN,
  MAX_REPLY_DATAGRAM,
  openCookieReply,
} from "../wire/mod.ts";

/** What to forward where. */
export interface ForwardRequest {
  /** The next hop. */
  to: Deno.NetAddr;
  /** Local address to send from (`0.0.0.0` / `::` for any). */
  bind: string;
  /** The datagram, as the client sealed it. */
  datagram: Uint8Array;
  /** Longest wait for the reply, ms. */
  timeoutMs: number;
  /** The next hop's X25519 key: lets the relay answer its cookie reply. */
  targetPublic?: Uint8Array;
  /** No answer is expected (silence is not an error for the caller). */
  noReply?: boolean;
  /** Keep the socket open and hand it back with the reply (a session's path). */
  keep?: boolean;
}

/** The outcome of one round trip. */
export type ForwardResult =
  | { ok: true; reply: Uint8Array; cookieRound: boolean; conn?: Deno.DatagramConn }
  | { ok: false; reason: "relay_no_reply" | "relay_send_failed" | "relay_proof_required" };

/** Forwards `req.datagram` and waits for the next hop's answer. Never throws. */
export async function forwardDatagram(req: ForwardRequest): Promise<ForwardResult> {
  let conn: Deno.DatagramConn;
  try {
    conn = Deno.listenDatagram({ transport: "udp", hostname: req.bind, port: 0 });
  } catch {
    return { ok: false, reason: "relay_send_failed" };
  }
  let pending: Promise<[Uint8Array, Deno.Addr]> | undefined;
  let kept = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<null>((r) => timer = setTimeout(() => r(null), req.timeoutMs));
  try {
    try {
      await conn.send(req.datagram, req.to);
    } catch {
      return { ok: false, reason: "relay_send_failed" };
    }
    let cookieRound = false;
    for (;;) {
      pending ??= conn.receive();
      const got = await Promise.race([pending, expired]);
      if (got === null) {
        // Silence after our proof: the hop had opened the first copy and asked for proof after
        // that (require_challenge, a grant without an address); the proven copy is a replay.
        return { ok: false, reason: cookieRound ? "relay_proof_required" : "relay_no_reply" };
      }
      pending = undefined;
      const [data, from] = got;
      const src = from as Deno.NetAddr;
      // Only the hop we sent to; anything else on this port is ignored.
      if (src.hostname !== req.to.hostname || src.port !== req.to.port) continue;
      if (data.length > MAX_REPLY_DATAGRAM) continue;
      if (req.targetPublic && data.length === COOKIE_REPLY_LEN) {
        const mac1 = mac1OfV2(req.datagram);
        const cookie = mac1 && openCookieReply(req.targetPublic, mac1, data);
        if (cookie && cookieRound) return { ok: false, reason: "relay_proof_required" };
        if (cookie) {
          cookieRound = true;
          const proven = req.datagram.slice();
          const end = proven.length - MAC2_LEN;
          proven.set(computeMac2(cookie.cookie, proven.subarray(0, end)), end);
          try {
            await conn.send(proven, req.to);
          } catch {
            return { ok: false, reason: "relay_send_failed" };
          }
          continue;
        }
      }
      if (req.keep) {
        kept = true;
        return { ok: true, reply: data, cookieRound, conn };
      }
      return { ok: true, reply: data, cookieRound };
    }
  } finally {
    clearTimeout(timer);
    if (!kept) conn.close();
    pending?.catch(() => {});
  }
}

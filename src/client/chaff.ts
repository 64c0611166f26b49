/**
 * Client chaff: decoy datagrams sent around a real request. Each is a sealed message of type
 * `chaff` from the same user, padded to the length of one of the real request's datagrams,
 * so on the wire it is as long as the real one and as random; the server opens it, counts
 * it (`chaff`) and drops it without a reply, a replay check or a failure. The real datagram
 * takes a random place among them and every datagram waits a random time (0..jitter) before
 * it leaves, so neither size nor order nor spacing tells the real one apart.
 * @module
 */
import { randomInt } from "node:crypto";
import { sealRequest, type UserAuth } from "../wire/mod.ts";

/** Most chaff datagrams one request may carry (each costs the server one open). */
export const MAX_CHAFF = 32;
/** Default spacing bound between datagrams, ms. */
export const DEFAULT_CHAFF_JITTER_MS = 200;

/** What a chaff datagram is sealed with. */
export interface ChaffSealing {
  /** Server X25519 public key. */
  serverPublic: Uint8Array;
  /** The user the chaff comes from (the server must open it like a request). */
  userId: number;
  /** How that user authenticates. */
  auth: UserAuth;
  /** Clock offset of the real request (ms). */
  timeOffsetMs?: number;
  /** The cookie of the real request, if any (mac2 then looks the same). */
  cookie?: Uint8Array;
}

/** Seals one chaff datagram of exactly `length` bytes. */
export function sealChaff(s: ChaffSealing, length: number): Uint8Array {
  const d = sealRequest(s.serverPublic, s.auth, {
    type: "chaff",
    userId: s.userId,
    actionId: randomInt(1, 65536),
  }, { now: Date.now() + (s.timeOffsetMs ?? 0), padTo: length, cookie: s.cookie }).datagram;
  if (d.length !== length) throw new RangeError(`chaff of ${length} bytes cannot be sealed`);
  return d;
}

/** The order of one send: which slot is real, and the wait before each slot. */
export interface ChaffPlan {
  /** Index of the real datagram(s) among `count + 1` slots. */
  realSlot: number;
  /** Wait before each slot, ms (uniform in 0..jitter). */
  delays: number[];
}

/** Plans `count` chaff datagrams around one real send. */
export function planChaff(count: number, jitterMs: number): ChaffPlan {
  if (!Number.isInteger(count) || count < 0 || count > MAX_CHAFF) {
    throw new RangeError(`chaff ${count}: expected 0..${MAX_CHAFF}`);
  }
  const delays = Array.from(
    { length: count + 1 },
    () => jitterMs > 0 ? randomInt(0, Math.floor(jitterMs) + 1) : 0,
  );
  return { realSlot: randomInt(0, count + 1), delays };
}

/**
 * Sends the real datagrams (`real`, one slot: a request or its fragments back to back) among
 * `count` chaff datagrams. Resolves `realSent` once the real ones left (the reply timer starts
 * there); the returned promise resolves when the last chaff left.
 */
export async function sendWithChaff(
  send: (d: Uint8Array) => Promise<unknown>,
  real: readonly Uint8Array[],
  sealing: ChaffSealing,
  count: number,
  jitterMs: number,
  realSent: () => void,
): Promise<void> {
  const plan = planChaff(count, jitterMs);
  const lengths = real.map((d) => d.length);
  for (let slot = 0; slot <= count; slot++) {
    if (plan.delays[slot] > 0) await new Promise((r) => setTimeout(r, plan.delays[slot]));
    if (slot === plan.realSlot) {
      for (const d of real) await send(d);
      realSent();
    } else {
      await send(sealChaff(sealing, lengths[randomInt(0, lengths.length)]));
    }
  }
}

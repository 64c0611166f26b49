/**
 * Ports derived from a secret and a time window: knock sequences (per user) and the port of
 * a hopping server. Both ends compute the same ports from the same secret, clock and config;
 * an observer who saw one window's ports learns nothing about the next window's.
 *
 * sequence = ports from HMAC-SHA256(secret, "siglatch knock v1" ‖ u32 user ‖ u64 window ‖ u8 i)
 * hop port = port  from HMAC-SHA256(secret, "siglatch hop v1" ‖ u64 window)
 * A 32-bit value v maps to lo + v mod (hi - lo + 1) (bias below 2^-16 for ranges up to 65536).
 * @module
 */
import { createHmac } from "node:crypto";

const KNOCK_LABEL = new TextEncoder().encode("siglatch knock v1");
const HOP_LABEL = new TextEncoder().encode("siglatch hop v1");

/** The window a time falls in. */
export function windowOf(nowMs: number, periodMs: number): number {
  return Math.floor(nowMs / periodMs);
}

/** Milliseconds until the window after the one `nowMs` is in begins. */
export function msToNextWindow(nowMs: number, periodMs: number): number {
  return (windowOf(nowMs, periodMs) + 1) * periodMs - nowMs;
}

function mac(secret: Uint8Array, label: Uint8Array, fields: (w: DataView) => void, n: number) {
  const msg = new Uint8Array(label.length + n);
  msg.set(label);
  fields(new DataView(msg.buffer, label.length));
  return new Uint8Array(createHmac("sha256", secret).update(msg).digest());
}

function toPort(v: number, range: readonly [number, number]): number {
  return range[0] + (v % (range[1] - range[0] + 1));
}

/**
 * The knock sequence of `userId` in `window`: `length` distinct ports from `range`, none of
 * them in `avoid` (the server's own ports). Throws when the range is too small to choose from.
 */
export function knockSequence(
  secret: Uint8Array,
  userId: number,
  window: number,
  length: number,
  range: readonly [number, number],
  avoid: ReadonlySet<number> = new Set(),
): number[] {
  const ports: number[] = [];
  for (let block = 0; ports.length < length; block++) {
    if (block > 64) throw new RangeError(`no ${length} free ports in ${range.join("-")}`);
    const h = mac(secret, KNOCK_LABEL, (w) => {
      w.setUint32(0, userId);
      w.setBigUint64(4, BigInt(window));
      w.setUint8(12, block);
    }, 13);
    const view = new DataView(h.buffer);
    for (let i = 0; i < 8 && ports.length < length; i++) {
      const p = toPort(view.getUint32(i * 4), range);
      if (!ports.includes(p) && !avoid.has(p)) ports.push(p);
    }
  }
  return ports;
}

/** The listening port of a hopping server in `window`. */
export function hopPort(secret: Uint8Array, window: number, range: readonly [number, number]) {
  const h = mac(secret, HOP_LABEL, (w) => w.setBigUint64(0, BigInt(window)), 8);
  return toPort(new DataView(h.buffer).getUint32(0), range);
}

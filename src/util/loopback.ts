/**
 * Loopback addresses: 127.0.0.0/8 and ::1 (the only addresses a plain-HTTP admin listener
 * may bind to).
 * @module
 */
import type { IpAddress } from "./ip.ts";

/** True for 127.0.0.0/8 and ::1. */
export function isLoopbackIp(ip: IpAddress): boolean {
  return ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n;
}

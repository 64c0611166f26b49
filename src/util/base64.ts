/**
 * Kept only for src/daemon/daemon.ts, which is being split: new code calls the
 * platform's `bytes.toBase64()` / `Uint8Array.fromBase64()` directly. Delete this file
 * once no module imports it.
 * @module
 */

/** Standard base64 of `bytes` (`bytes.toBase64()`). */
export function encodeBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

/**
 * The release targets: Linux x86_64 and aarch64 only (the daemon is Linux-only: nftables,
 * setsid, cgroups, privilege separation; macOS and Windows builds could only run the client,
 * and nothing tests them).
 * @module
 */

/** Per target: Deno target triple, Debian architecture, ELF e_machine. */
export const TARGETS = {
  x86_64: { triple: "x86_64-unknown-linux-gnu", deb: "amd64", elfMachine: 62 },
  aarch64: { triple: "aarch64-unknown-linux-gnu", deb: "arm64", elfMachine: 183 },
} as const;

/** A target name. */
export type Target = keyof typeof TARGETS;

/**
 * The ELF e_machine of a 64-bit little-endian executable (62 x86_64, 183 aarch64), or
 * undefined when `head` (its first 20 bytes or more) is not one.
 */
export function elfMachine(head: Uint8Array): number | undefined {
  if (head.length < 20) return undefined;
  const magic = head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
  // EI_CLASS 2: 64-bit; EI_DATA 1: little-endian; e_machine at offset 18.
  if (!magic || head[4] !== 2 || head[5] !== 1) return undefined;
  return head[18] | (head[19] << 8);
}

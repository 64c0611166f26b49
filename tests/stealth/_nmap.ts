/**
 * Reading nmap's grepable output (`-oG -`) in stealth tests.
 * @module
 */

/** Port states from nmap's grepable output: `"7001/tcp" → "filtered"`. */
export function states(grepable: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of grepable.matchAll(/(\d+)\/([a-z|]+)\/(tcp|udp)\//g)) {
    out[`${m[1]}/${m[3]}`] = m[2];
  }
  return out;
}
